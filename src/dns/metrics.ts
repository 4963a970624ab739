import { Counter, Gauge } from 'prom-client';
import type { Registry } from '../core/metrics.ts';

const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  9: 'NOTAUTH',
  16: 'BADVERS',
};
const RCODES = [0, 1, 2, 3, 4, 5, 9, 16];
const QTYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  43: 'DS',
  48: 'DNSKEY',
  64: 'SVCB',
  65: 'HTTPS',
  251: 'IXFR',
  252: 'AXFR',
  255: 'ANY',
  257: 'CAA',
};
const QTYPES = Object.keys(QTYPE_NAMES).map(Number);
const N_RCODE = RCODES.length + 1; // + OTHER
const N_QTYPE = QTYPES.length + 1;
const rcodeIndex = new Uint8Array(4096).fill(RCODES.length);
RCODES.forEach((r, i) => {
  rcodeIndex[r] = i;
});
const qtypeIndex = new Uint8Array(65536).fill(QTYPES.length);
QTYPES.forEach((t, i) => {
  qtypeIndex[t] = i;
});
const TRANSPORTS = ['udp', 'tcp', 'doh'] as const;
const N_TRANSPORT = TRANSPORTS.length;
const transportIndex = (t: (typeof TRANSPORTS)[number]) => (t === 'udp' ? 0 : t === 'tcp' ? 1 : 2);

/**
 * One server's counters as plain numbers: the hot path only adds to typed arrays, and
 * prom-client reads them at scrape time (labels hashed per scrape, not per query).
 */
export class DnsStats {
  /** [rcode][qtype][transport] query counts. */
  readonly queries = new Float64Array(N_RCODE * N_QTYPE * N_TRANSPORT);
  readonly rejected = new Map<string, number>();
  /** Packets (UDP datagrams and TCP frames) handed to the chain. */
  packets = 0;
  rrlDropped = 0;
  rrlSlipped = 0;
  truncated = 0;
  cacheHits = 0;
  cacheMisses = 0;
  /** Replies the lean stage wrote (cache misses of the common shape). */
  leanAnswers = 0;
  tcpConnections = 0;
  tcpOpen = 0;
  tcpClosedGarbage = 0;
  tcpIdleClosed = 0;

  /** Counts one reply (or a question we chose not to answer, with rcode -1). */
  countQuery(rcode: number, qtype: number, transport: (typeof TRANSPORTS)[number]): void {
    const r = rcode < 0 ? RCODES.length : rcodeIndex[rcode & 4095]!;
    this.queries[(r * N_QTYPE + qtypeIndex[qtype & 65535]!) * N_TRANSPORT + transportIndex(transport)]!++;
  }

  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  /** Queries counted for an rcode name (tests and logs). */
  queriesWith(rcode: string): number {
    let n = 0;
    const r = RCODES.findIndex((x) => RCODE_NAMES[x] === rcode);
    if (r < 0) return 0;
    for (let i = r * N_QTYPE * N_TRANSPORT; i < (r + 1) * N_QTYPE * N_TRANSPORT; i++) n += this.queries[i]!;
    return n;
  }

  /** Queries counted for a query type number, any rcode and transport (tests and logs). */
  queriesOfType(qtype: number): number {
    let n = 0;
    const t = qtypeIndex[qtype & 65535]!;
    for (let r = 0; r <= RCODES.length; r++)
      for (let x = 0; x < N_TRANSPORT; x++) n += this.queries[(r * N_QTYPE + t) * N_TRANSPORT + x]!;
    return n;
  }

  get rejectedTotal(): number {
    let n = 0;
    for (const v of this.rejected.values()) n += v;
    return n;
  }
}

interface Source {
  zone: string;
  stats: DnsStats;
}

const perRegistry = new WeakMap<Registry, Set<Source>>();

/**
 * Publishes a server's stats on a registry (several zones' servers may share one; the
 * `zone` label tells them apart). Returns the function that unpublishes them.
 */
export function publishDnsStats(registry: Registry, zone: string, stats: DnsStats): () => void {
  let sources = perRegistry.get(registry);
  if (!sources) {
    const set = new Set<Source>();
    sources = set;
    perRegistry.set(registry, set);
    const simple = (name: string, help: string, read: (s: DnsStats) => number, kind: 'counter' | 'gauge') => {
      const Ctor = kind === 'counter' ? Counter : Gauge;
      new Ctor({
        name,
        help,
        labelNames: ['zone'],
        registers: [registry],
        collect(this: Counter | Gauge) {
          this.reset();
          for (const s of set) (this as Gauge).inc({ zone: s.zone }, read(s.stats));
        },
      });
    };
    new Counter({
      name: 'mz_dns_queries_total',
      help: 'DNS queries answered, by rcode, query type and transport',
      labelNames: ['zone', 'rcode', 'qtype', 'transport'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of set) {
          const q = s.stats.queries;
          for (let i = 0; i < q.length; i++) {
            if (q[i] === 0) continue;
            const t = i % N_TRANSPORT;
            const qt = Math.floor(i / N_TRANSPORT) % N_QTYPE;
            const rc = Math.floor(i / N_TRANSPORT / N_QTYPE);
            this.inc(
              {
                zone: s.zone,
                rcode: rc < RCODES.length ? RCODE_NAMES[RCODES[rc]!]! : rc === RCODES.length ? 'NONE' : 'OTHER',
                qtype: qt < QTYPES.length ? QTYPE_NAMES[QTYPES[qt]!]! : 'OTHER',
                transport: TRANSPORTS[t]!,
              },
              q[i]!,
            );
          }
        }
      },
    });
    new Counter({
      name: 'mz_dns_rejected_packets_total',
      help: 'Packets we could not answer normally (short, malformed, bad opcode, bad ECS, internal error), by reason',
      labelNames: ['zone', 'reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of set) for (const [reason, n] of s.stats.rejected) this.inc({ zone: s.zone, reason }, n);
      },
    });
    simple('mz_dns_packets_total', 'Packets received (UDP datagrams and TCP frames)', (s) => s.packets, 'counter');
    simple('mz_dns_rrl_dropped_total', 'UDP replies dropped by response-rate limiting', (s) => s.rrlDropped, 'counter');
    simple(
      'mz_dns_rrl_slipped_total',
      'Rate-limited UDP replies sent as empty TC=1 replies (slip)',
      (s) => s.rrlSlipped,
      'counter',
    );
    simple(
      'mz_dns_truncated_total',
      'UDP replies truncated (TC=1) to fit the size limit',
      (s) => s.truncated,
      'counter',
    );
    simple('mz_dns_cache_hits_total', 'Replies served from the encoded-reply cache', (s) => s.cacheHits, 'counter');
    simple('mz_dns_cache_misses_total', 'Cacheable questions computed afresh', (s) => s.cacheMisses, 'counter');
    simple(
      'mz_dns_lean_answers_total',
      'Cache misses of the common shape answered by the lean stage in one pass',
      (s) => s.leanAnswers,
      'counter',
    );
    simple('mz_dns_tcp_connections_total', 'TCP connections accepted', (s) => s.tcpConnections, 'counter');
    simple('mz_dns_tcp_open_connections', 'TCP connections open now', (s) => s.tcpOpen, 'gauge');
    simple(
      'mz_dns_tcp_garbage_closed_total',
      'TCP connections closed for a bad frame',
      (s) => s.tcpClosedGarbage,
      'counter',
    );
    simple(
      'mz_dns_tcp_idle_closed_total',
      'TCP connections closed after the idle timeout',
      (s) => s.tcpIdleClosed,
      'counter',
    );
  }
  const src = { zone, stats };
  sources.add(src);
  return () => sources.delete(src);
}

/** Name of an rcode for logs and tests. */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? String(rcode);
}
