/**
 * The soak's topology (pure): the bundled default — same zones, services, policies and
 * resources as `multizone up` — with every listener moved off the default ports, so a soak
 * never collides with a cluster (or a test) on the default 127.0.N.1 ports, and its stores in
 * a folder of its own.
 */
import { parseDocument } from 'yaml';

/** Port offsets from the base, per role; each zone keeps its own loopback address. */
export const ROLE_OFFSETS = { dns: 0, httpdns: 1, edge: 2, router: 3, app: 4 } as const;
/** The control API's offset (on 127.0.0.1). */
export const CONTROL_OFFSET = 10;
/** Highest base: the largest offset must stay a port. */
export const MAX_PORT_BASE = 65535 - CONTROL_OFFSET;

/**
 * Rewrites a topology's listen addresses: with `portBase` 0 every listener takes a free port
 * (port 0; `multizone up --json` says which), else role R of every zone listens on its zone's
 * address at portBase + ROLE_OFFSETS[R] and the control API on 127.0.0.1:portBase + 10.
 * Example: base 26000 → sh-a's router 127.0.1.1:26003, bj-a's DNS 127.0.3.1:26000.
 */
export function soakTopologyYaml(defaultYaml: string, o: { portBase: number; dataDir: string }): string {
  if (!Number.isInteger(o.portBase) || o.portBase < 0 || o.portBase > MAX_PORT_BASE)
    throw new RangeError(`port base must be 0..${MAX_PORT_BASE} (got ${o.portBase})`);
  const doc = parseDocument(defaultYaml);
  const zones = doc.toJS().zones as Record<string, { listen?: Record<string, string> }>;
  const port = (offset: number) => (o.portBase === 0 ? 0 : o.portBase + offset);
  for (const [name, zone] of Object.entries(zones))
    for (const [role, addr] of Object.entries(zone.listen ?? {})) {
      const offset = ROLE_OFFSETS[role as keyof typeof ROLE_OFFSETS];
      if (offset === undefined) throw new RangeError(`zones.${name}.listen.${role}: no port offset for this role`);
      const host = addr.slice(0, addr.lastIndexOf(':'));
      doc.setIn(['zones', name, 'listen', role], `${host}:${port(offset)}`);
    }
  doc.setIn(['control', 'listen'], `127.0.0.1:${port(CONTROL_OFFSET)}`);
  doc.setIn(['store', 'dataDir'], o.dataDir);
  return doc.toString();
}
