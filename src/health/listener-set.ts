import type { Logger } from '../core/logger.ts';

/** Listeners of one kind of event; one that throws is logged, and the others still hear it. */
export class ListenerSet<A extends unknown[]> {
  private readonly listeners = new Set<(...a: A) => void>();

  constructor(private readonly logger: Logger) {}

  /** Adds a listener; returns the function that removes it. */
  add(listener: (...a: A) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls every listener (those added meanwhile wait for the next event). */
  emit(...args: A): void {
    for (const l of [...this.listeners]) {
      try {
        l(...args);
      } catch (e) {
        // a consumer's bug must not stop the checker
        this.logger.error({ err: e }, 'health: change listener threw');
      }
    }
  }
}
