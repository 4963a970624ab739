import { isIP } from 'node:net';
import type { Role, Topology } from '../topology/index.ts';
import type { HealthTarget } from './types.ts';

/** Roles whose listeners are probed, in the order they are listed (control is not probed). */
export const PROBED_ROLES = ['dns', 'httpdns', 'edge', 'router', 'app'] as const satisfies readonly Role[];

/** Roles that decide a zone's verdict, best first: its router, else its app, else its edge, … */
const ZONE_KEY_ROLES = ['router', 'app', 'edge', 'httpdns', 'dns'] as const satisfies readonly Role[];

/**
 * Whether a listener can be probed: port 0 means "any free port", known only to the process
 * that bound it, so probing the configured port would only ever fail (and falsely take the
 * zone down). Such listeners are left unprobed and count as up.
 */
function probeable(hp: { port: number } | undefined): boolean {
  return hp !== undefined && hp.port !== 0;
}

/**
 * Roles whose listeners turn to HTTPS when their section has `tls` (HTTPDNS and the edge):
 * a probe speaking plain HTTP to them would fail every time and take them down.
 */
function tlsRoles(topology: Topology): ReadonlySet<string> {
  const out = new Set<string>();
  if (topology.config.httpdns.tls) out.add('httpdns');
  if (topology.config.edge.tls) out.add('edge');
  return out;
}

/** Every zone's probed listeners, in topology order. */
export function healthTargets(topology: Topology): HealthTarget[] {
  const out: HealthTarget[] = [];
  const tls = tlsRoles(topology);
  for (const z of topology.zones)
    for (const role of PROBED_ROLES) {
      const hp = z.listen[role];
      if (hp && probeable(hp))
        out.push({
          id: `${z.name}/${role}`,
          zone: z.name,
          role,
          host: hp.host === 'localhost' ? '127.0.0.1' : hp.host,
          port: hp.port,
          ...(tls.has(role) ? { tls: true } : {}),
          // an external app is probed on its own health path, and only 2xx means alive
          ...(role === 'app' && z.external ? { http: { path: z.external.health, expectStatus: ['2xx'] } } : {}),
        });
    }
  return out;
}

/** The endpoint whose verdict is the zone's, or null when the zone has no probeable listener. */
export function zoneKeyEndpoint(topology: Topology, zone: string): string | null {
  const z = topology.zone(zone);
  for (const role of ZONE_KEY_ROLES) if (probeable(z.listen[role])) return `${zone}/${role}`;
  return null;
}

/**
 * Steering ids that share an endpoint's verdict: the IPv4 id itself and the IPv6 ids of the
 * same listener (`/v6`, `/v6:N` for the zone's extra addresses), so AAAA answers follow too.
 */
export function steeringIds(topology: Topology, t: HealthTarget): string[] {
  const z = topology.zone(t.zone);
  return [t.id, `${t.id}/v6`, ...z.addresses6.map((_, i) => `${t.id}/v6:${i}`)];
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

/**
 * Each zone's own address, when zones listen on distinct concrete addresses (127.0.N.1 in
 * the default topology): probes from that zone leave from it, so that later a network
 * namespace or firewall rule can cut one zone off. Zones sharing an address get none.
 */
export function zoneAddresses(topology: Topology): Map<string, string> {
  const own = new Map<string, string>();
  const users = new Map<string, number>();
  for (const z of topology.zones) {
    const hosts = new Set(
      Object.values(z.listen)
        .map((hp) => hp.host)
        .filter((h) => isIP(h) !== 0 && h !== '0.0.0.0' && h !== '::'),
    );
    if (hosts.size !== 1) continue;
    const h = [...hosts][0]!;
    own.set(z.name, h);
    users.set(h, (users.get(h) ?? 0) + 1);
  }
  for (const [zone, h] of own) if ((users.get(h) ?? 0) > 1) own.delete(zone);
  return own;
}

/** The source address for a probe from `from` to `target`: only when family and scope match. */
export function probeSource(from: string | undefined, target: HealthTarget): string | undefined {
  if (!from) return undefined;
  const fam = isIP(target.host);
  if (fam === 0 || isIP(from) !== fam) return undefined;
  // a loopback source cannot reach a routable address and vice versa
  if (isLoopback(from) !== isLoopback(target.host)) return undefined;
  return from;
}
