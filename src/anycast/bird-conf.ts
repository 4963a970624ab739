/**
 * bird.conf of one zone's BGP speaker (pure: text out). A static protocol holds the prefixes
 * the zone announces now (a withdrawn one is simply absent); one BGP protocol per neighbour
 * exports them through a filter that adds the zone's prepends, MED and communities.
 */
import type { AnycastConfig } from '../topology/index.ts';
import type { AnycastAction } from './decision.ts';

/** One prefix as the speaker should carry it now. */
export interface Announcement {
  /** The prefix's name in `anycast.prefixes`. */
  name: string;
  prefix: string;
  action: AnycastAction;
}

/** The BGP protocol name BIRD shows for a zone's neighbour `i` (0-based). */
export function sessionName(i: number): string {
  return `mz_up${i + 1}`;
}

/** The neighbour index (0-based) of a session name, or -1 for a name that is not one of ours. */
export function sessionIndex(name: string): number {
  const m = /^mz_up(\d+)$/.exec(name);
  return m ? Number(m[1]) - 1 : -1;
}

/**
 * The whole bird.conf for `zone`: router id, the static routes of the announced prefixes,
 * an export filter (per prefix: `zones.<z>.prepend` prepends, plus `downPrepend` when the
 * action is `prepend`; MED; communities), and a session per neighbour that imports nothing.
 * Graceful restart is off: a speaker that dies must take its routes with it. With
 * `anycast.bfd`, a BFD protocol runs under every session (`bfd on`).
 */
export function renderBirdConf(cfg: AnycastConfig, zone: string, plan: readonly Announcement[]): string {
  const z = cfg.zones[zone];
  if (!z) throw new Error(`anycast: no anycast.zones.${zone}`);
  const carried = plan.filter((a) => a.action !== 'withdraw');
  const routes = carried.map((a) => `  route ${a.prefix} blackhole; # ${a.name}: ${a.action}`);
  const filterBody = carried.map((a) => {
    const prepends = z.prepend + (a.action === 'prepend' ? cfg.downPrepend : 0);
    const communities = cfg.prefixes[a.name]?.communities ?? [];
    return [
      `  if net = ${a.prefix} then {`,
      ...Array.from({ length: prepends }, () => `    bgp_path.prepend(${cfg.localAs});`),
      ...(z.med === undefined ? [] : [`    bgp_med = ${z.med};`]),
      ...communities.map((c) => `    bgp_community.add((${c.replace(':', ',')}));`),
      '    accept;',
      '  }',
    ].join('\n');
  });
  const { holdTimeS, keepaliveS, connectRetryS } = cfg.bgp;
  const sessions = z.neighbors.map((n, i) =>
    [
      `protocol bgp ${sessionName(i)} {`,
      `  description "neighbor ${n.address} AS${n.as}";`,
      `  local${z.source ? ` ${z.source}` : ''} port ${z.port} as ${cfg.localAs};`,
      // bound to its own address, several zones' BIRDs share a host (embedded mode, one per zone)
      ...(z.source ? ['  strict bind yes;'] : []),
      `  neighbor ${n.address} port ${n.port} as ${n.as};`,
      `  hold time ${holdTimeS};`,
      `  keepalive time ${keepaliveS};`,
      `  connect retry time ${connectRetryS};`,
      '  connect delay time 1;',
      '  error wait time 1, 10;',
      '  graceful restart off;',
      // BFD down closes the session (not graceful: its routes must go with it)
      ...(cfg.bfd ? ['  bfd on;'] : []),
      '  ipv4 { import none; export filter mz_export; };',
      '}',
    ].join('\n'),
  );
  return `# written by multizone for zone ${zone}; rewritten on every change (birdc configure)
router id ${z.routerId};
protocol device { }

protocol static mz_anycast {
  ipv4;
${routes.join('\n')}
}

filter mz_export {
${filterBody.join('\n')}
  reject;
}

${cfg.bfd ? `${renderBfd(cfg.bfd)}\n` : ''}${sessions.join('\n\n')}
`;
}

/**
 * `protocol bfd` with the same timers for direct neighbours (any interface) and multihop
 * ones; the BGP sessions ask it for a BFD session to their neighbour (`bfd on`). The idle
 * interval (while down) stays BIRD's default (1 s).
 */
export function renderBfd(bfd: { intervalMs: number; multiplier: number }): string {
  const timers = `interval ${bfd.intervalMs} ms; multiplier ${bfd.multiplier};`;
  return `protocol bfd mz_bfd {
  interface "*" { ${timers} };
  multihop { ${timers} };
}
`;
}

/** One BGP session of a speaker, as `birdc show protocols` reports it. */
export interface BgpSession {
  /** BIRD's protocol name (`mz_up1`). */
  name: string;
  /** `up`, `start`, `down`, … (BIRD's protocol state). */
  state: string;
  /** BIRD's info column: `Established`, `Active`, `Connect`, `Idle`, … */
  info: string;
  /** True when the session is established. */
  established: boolean;
  /** The neighbour (`10.77.0.2 AS65000`), filled by the announcer from its config. */
  neighbor?: string;
  /** With `anycast.bfd`: the BFD session's state to the neighbour (`Up`, `Down`, `Init`, `AdminDown`), when BIRD has one. */
  bfd?: string;
}

/**
 * Neighbour address → BFD session state in `birdc show bfd sessions` output. Rows look like
 * `10.77.0.2    eth0    Up    10:01:02.345    0.200    0.600`; headers are skipped.
 */
export function parseBfdSessions(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+\.\d+\.\d+\.\d+)\s+\S+\s+(Up|Down|Init|AdminDown)\b/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/**
 * The BGP sessions in `birdc show protocols` output. Rows look like
 * `mz_up1     BGP        ---        up     10:01:02.345  Established`; the header and other
 * protocols are skipped.
 */
export function parseProtocols(text: string): BgpSession[] {
  const out: BgpSession[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[1] !== 'BGP') continue;
    const state = cols[3]!;
    // the info column follows the time (one or two columns: `10:01:02.345` or `2026-01-01 10:01:02`)
    const info = cols
      .slice(4)
      .filter((c) => !/^[\d:.-]+$/.test(c))
      .join(' ');
    out.push({ name: cols[0]!, state, info, established: state === 'up' && info.startsWith('Established') });
  }
  return out;
}
