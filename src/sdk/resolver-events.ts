import type { ResolverEvents } from './resolver-types.ts';

/** The resolver's event listeners; a listener that throws is ignored. */
export class ResolverEmitter {
  private readonly listeners = new Map<string, Set<(e: unknown) => void>>();

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof ResolverEvents>(event: K, fn: (e: ResolverEvents[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn as (e: unknown) => void);
    return () => set.delete(fn as (e: unknown) => void);
  }

  /** Tells every listener of k. */
  emit<K extends keyof ResolverEvents>(k: K, e: ResolverEvents[K]): void {
    for (const fn of this.listeners.get(k) ?? []) {
      try {
        fn(e);
      } catch {
        // a listener's bug is not the resolver's
      }
    }
  }
}
