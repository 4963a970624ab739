import { hasCode } from '../core/errors.ts';
import type { CacheEntry } from './answer-cache.ts';
import { sdkErrors } from './errors.ts';
import { checkHijack } from './hijack-check.ts';
import type { HostAnswer } from './parse-answer.ts';
import type { ServerPool } from './server-pool.ts';
import { type FallbackDeps, viaSystem } from './system-fallback.ts';

/** Most hosts in one /d call (the server refuses more). */
export const MAX_BATCH = 5;

interface Waiter {
  resolve(e: CacheEntry): void;
  reject(e: unknown): void;
  /** A background refresh: it must not replace a cached HTTPDNS answer with the system's. */
  refresh: boolean;
}

/** What a batch needs besides the servers: the fallback's deps, and the addresses that are ours. */
export interface BatcherDeps extends FallbackDeps {
  servers: ServerPool;
  ours: ReadonlySet<string>;
}

/**
 * Fetches hosts from HTTPDNS in batches: hosts asked in the same tick share /d calls (at most
 * MAX_BATCH hosts each), and concurrent askers of one host share its fetch. A host HTTPDNS
 * cannot answer falls back to the system resolver.
 */
export class HostBatcher {
  private readonly waiting = new Map<string, Waiter[]>();
  private queue: string[] = [];
  private flushScheduled = false;

  constructor(private readonly d: BatcherDeps) {}

  /** True while host is being fetched. */
  isFetching(host: string): boolean {
    return this.waiting.has(host);
  }

  /** Queues host for the next /d batch; `refresh` marks a background refresh. */
  fetchHost(host: string, refresh = false): Promise<CacheEntry> {
    return new Promise<CacheEntry>((resolve, reject) => {
      const ws = this.waiting.get(host);
      if (ws) {
        ws.push({ resolve, reject, refresh });
        return;
      }
      this.waiting.set(host, [{ resolve, reject, refresh }]);
      this.queue.push(host);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const hosts = this.queue;
    this.queue = [];
    for (let i = 0; i < hosts.length; i += MAX_BATCH) void this.runBatch(hosts.slice(i, i + MAX_BATCH));
  }

  private async runBatch(hosts: string[]): Promise<void> {
    let answers: Map<string, HostAnswer> | null = null;
    let reason = 'HTTPDNS unreachable';
    try {
      answers = await this.d.servers.ask(hosts);
    } catch (e) {
      reason = hasCode(e, sdkErrors.ERR_SDK_BAD_ANSWER) ? 'bad HTTPDNS answers' : reason;
    }
    await Promise.all(
      hosts.map(async (host) => {
        try {
          const a = answers?.get(host);
          // no await on the HTTPDNS path: its waiters are settled in this very tick
          const e = this.cached(host, a) ?? (await this.fallback(host, a, reason));
          this.settle(host, (w) => w.resolve(e));
        } catch (err) {
          this.settle(host, (w) => w.reject(err));
        }
      }),
    );
  }

  /** HTTPDNS's answer for host, cached (and checked for hijacking), or undefined when it has no address. */
  private cached(host: string, a: HostAnswer | undefined): CacheEntry | undefined {
    if (!a || a.ips.length + a.ipsv6.length === 0) return undefined;
    const { d } = this;
    const e = d.cache.store(host, a.ips, a.ipsv6, a.ttl, 'httpdns');
    checkHijack(d.s, d.stats, d.events, d.ours, host, [...a.ips, ...a.ipsv6]);
    return e;
  }

  /**
   * The system resolver's answer for a host HTTPDNS did not answer (`reason` says why), except
   * for a background refresh of an HTTPDNS answer, which throws (synchronously) instead.
   */
  private fallback(host: string, a: HostAnswer | undefined, reason: string): Promise<CacheEntry> {
    if (!a && (this.waiting.get(host) ?? []).every((w) => w.refresh) && this.d.cache.get(host)?.source === 'httpdns') {
      // a failed refresh keeps the HTTPDNS answer we have (until it expires) rather
      // than switching to the system resolver's, which may be the hijacked one
      throw sdkErrors.ERR_SDK_UNRESOLVED(`sdk: ${host}: refresh failed (${reason})`);
    }
    return viaSystem(this.d, host, a ? 'HTTPDNS has no address for it' : reason);
  }

  private settle(host: string, fn: (w: Waiter) => void): void {
    const ws = this.waiting.get(host) ?? [];
    this.waiting.delete(host);
    for (const w of ws) fn(w);
  }
}
