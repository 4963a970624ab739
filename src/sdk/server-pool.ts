import { askServer } from './ask-server.ts';
import { sdkErrors } from './errors.ts';
import type { HostAnswer } from './parse-answer.ts';
import type { ResolverEmitter } from './resolver-events.ts';
import type { ResolverSettings } from './resolver-settings.ts';
import type { ResolverStats } from './resolver-types.ts';

interface ServerState {
  url: string;
  failures: number;
  backoffUntil: number;
}

/**
 * The HTTPDNS servers, asked in turn from the preferred one (the last that answered); a
 * server that fails backs off exponentially so a dead one does not cost every lookup a timeout.
 */
export class ServerPool {
  private readonly servers: ServerState[];
  private preferred = 0;

  constructor(
    private readonly s: ResolverSettings,
    private readonly stats: ResolverStats,
    private readonly events: ResolverEmitter,
    urls: readonly string[],
  ) {
    this.servers = urls.map((url) => ({
      url: url.replace(/\/$/, ''),
      failures: 0,
      backoffUntil: Number.NEGATIVE_INFINITY,
    }));
  }

  /** The server last known to answer (speed reports go there). */
  preferredUrl(): string {
    return this.servers[this.preferred]!.url;
  }

  /** Servers in turn from the preferred one, skipping those in backoff (unless all are). */
  async ask(hosts: readonly string[]): Promise<Map<string, HostAnswer>> {
    const { clock } = this.s;
    const start = clock.now();
    let last: unknown = sdkErrors.ERR_SDK_HTTP('sdk: no HTTPDNS server tried');
    for (const server of this.candidates(clock.now())) {
      const budget = this.s.totalTimeoutMs - (clock.now() - start);
      if (budget <= 0) break;
      try {
        const out = await askServer(this.s, this.stats, server.url, hosts, budget);
        server.failures = 0;
        server.backoffUntil = Number.NEGATIVE_INFINITY;
        this.preferred = this.servers.indexOf(server);
        return out;
      } catch (e) {
        last = e;
        server.failures++;
        server.backoffUntil =
          clock.now() + Math.min(this.s.backoffMaxMs, this.s.backoffMs * 2 ** (server.failures - 1));
        this.stats.serverErrors++;
        this.events.emit('server-error', { server: server.url, error: e });
      }
    }
    throw last;
  }

  /** From the preferred server on, those out of backoff; when none is, the one whose backoff ends first. */
  private candidates(now: number): ServerState[] {
    const order = this.servers.map((_, i) => this.servers[(this.preferred + i) % this.servers.length]!);
    const ready = order.filter((s) => s.backoffUntil <= now);
    return ready.length > 0 ? ready : [...order].sort((a, b) => a.backoffUntil - b.backoffUntil).slice(0, 1);
  }
}
