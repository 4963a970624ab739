import { isIPv4, isIPv6 } from 'node:net';
import type { ServiceConfig, Topology, TopologyConfig } from '../topology/index.ts';
import { dnsErrors } from './errors.ts';
import type { Rr } from './wire/reply.ts';

/** TTL of the apex SOA, NS and glue records in positive answers. */
export const APEX_TTL = 3600;

export const QTYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, TXT: 16, AAAA: 28, IXFR: 251, AXFR: 252, ANY: 255 } as const;

/** A service name under the apex, with its config. */
export interface ServiceEntry {
  /** Lowercased name. */
  name: string;
  /** Name as the topology spells it (what steering is asked about). */
  configName: string;
  config: ServiceConfig;
}

/** The zone's static data, compiled once at startup from the topology and the dns: section. */
export interface CompiledZone {
  /** Lowercased apex without trailing dot. */
  apex: string;
  soa: Rr;
  /** The SOA for negative answers: TTL = SOA minimum (RFC 2308 §5). */
  negativeSoa: Rr;
  ns: Rr[];
  /** Our NS names, lowercased, in order. */
  nsNames: string[];
  /** SOA minimum: TTL of negative answers and of the RFC 8482 ANY answer. */
  negativeTtl: number;
  /** Glue and answers for our own NS names. */
  glue: Map<string, { a: Rr[]; aaaa: Rr[] }>;
  services: Map<string, ServiceEntry>;
  /** Every name that exists, including empty non-terminals (→ NODATA rather than NXDOMAIN). */
  names: Set<string>;
  /** True when name is the apex or below it. */
  inZone(name: string): boolean;
}

const lower = (s: string) => s.toLowerCase().replace(/\.$/, '');

/** Builds the zone; throws ERR_DNS_BAD_CONFIG when the dns: section names an unknown zone. */
export function compileZone(topology: Topology, config: TopologyConfig['dns']): CompiledZone {
  const apex = lower(topology.config.apex);
  const dotApex = `.${apex}`;
  const inZone = (n: string) => n === apex || n.endsWith(dotApex);
  const names = new Set<string>([apex]);
  const addName = (n: string) => {
    if (!inZone(n)) return;
    // every ancestor up to the apex exists too (empty non-terminals answer NODATA)
    for (let x = n; x !== apex && x.length > apex.length; x = x.slice(x.indexOf('.') + 1)) names.add(x);
  };

  let nsMap: [string, string][];
  if (config.ns) {
    nsMap = Object.entries(config.ns).map(([n, z]) => [lower(n), z]);
    for (const [n, z] of nsMap)
      if (!topology.hasZone(z))
        throw dnsErrors.ERR_DNS_BAD_CONFIG(`dns.ns.${n}: unknown zone "${z}"`, { details: { path: `dns.ns.${n}` } });
  } else {
    nsMap = topology.zones.filter((z) => z.listen.dns).map((z, i) => [`ns${i + 1}.${apex}`, z.name]);
  }
  const ns: Rr[] = nsMap.map(([n]) => ({ name: apex, type: 'NS', ttl: APEX_TTL, data: n }));
  const glue = new Map<string, { a: Rr[]; aaaa: Rr[] }>();
  for (const [n, zn] of nsMap) {
    if (!inZone(n)) continue;
    const hp = topology.zone(zn).listen.dns;
    const g = glue.get(n) ?? { a: [], aaaa: [] };
    const host = hp?.host === 'localhost' ? '127.0.0.1' : hp?.host;
    if (host && isIPv4(host)) g.a.push({ name: n, type: 'A', ttl: APEX_TTL, data: host });
    else if (host && isIPv6(host)) g.aaaa.push({ name: n, type: 'AAAA', ttl: APEX_TTL, data: host });
    glue.set(n, g);
    addName(n);
  }

  const soaData = {
    mname: lower(config.soa.mname ?? nsMap[0]?.[0] ?? `ns1.${apex}`),
    rname: lower(config.soa.rname ?? `hostmaster.${apex}`),
    serial: config.soa.serial,
    refresh: config.soa.refresh,
    retry: config.soa.retry,
    expire: config.soa.expire,
    minimum: config.soa.minimum,
  };
  const soa: Rr = { name: apex, type: 'SOA', ttl: APEX_TTL, data: soaData };
  const negativeSoa: Rr = { name: apex, type: 'SOA', ttl: Math.min(APEX_TTL, soaData.minimum), data: soaData };

  const services = new Map<string, ServiceEntry>();
  for (const [configName, cfg] of Object.entries(topology.config.services)) {
    const name = lower(configName);
    services.set(name, { name, configName, config: cfg });
    addName(name);
  }
  return {
    apex,
    soa,
    negativeSoa,
    ns,
    nsNames: nsMap.map(([n]) => n),
    negativeTtl: Math.min(APEX_TTL, soaData.minimum),
    glue,
    services,
    names,
    inZone,
  };
}
