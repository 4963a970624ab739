import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ConfigProblem,
  configInvalid,
  deepFreeze,
  oneByteStrings,
  readYamlSource,
  YamlSource,
  zodProblems,
} from '../core/config.ts';
import { fnv1a } from '../core/random.ts';
import { polygonProblem } from '../geo/index.ts';
import { topologyErrors } from './errors.ts';
import {
  type ResourceConfig,
  ROLES,
  type Role,
  type ServiceConfig,
  type Tier,
  type TopologyConfig,
  topologySchema,
} from './schema.ts';
import { zoneUrl } from './zone-url.ts';

/** A listener address. */
export interface HostPort {
  host: string;
  port: number;
}

/** A zone with its listeners resolved. */
export interface Zone {
  name: string;
  region: string;
  core: boolean;
  backups: readonly string[];
  /** Requests/s before steering sheds the overflow (`capacity`, or `capacity.rps`); also the shard placement weight. */
  capacity: number;
  weight: number;
  isps: readonly string[];
  /** Where each role listens; with an external app, `app` is the app's upstream address. */
  listen: Readonly<Partial<Record<Role, HostPort>>>;
  addresses6: readonly string[];
  /** The zone's external app (`zones.<z>.app`, placeholders resolved), or undefined when multizone starts its app. */
  external: ExternalApp | undefined;
}

/** A zone's external app: where it listens, its health path and its key file (for this zone). */
export interface ExternalApp {
  /** `http://host:port` */
  url: string;
  host: string;
  port: number;
  health: string;
  keyFile: string;
  /** What the app is (`app.name`), when the topology says. */
  name: string | undefined;
  /** How multizone starts the app (`app.command`), when it does; placeholders still in. */
  run: AppRun | undefined;
}

/** `zones.<z>.app.command` and what goes with it. */
export interface AppRun {
  command: readonly string[];
  /** Absolute: `app.cwd` against the topology file's folder. */
  cwd: string;
  env: Readonly<Record<string, string>>;
  startTimeoutMs: number;
}

/** The validated, frozen topology every capability reads. */
export interface Topology {
  readonly file: string;
  readonly config: TopologyConfig;
  readonly zones: readonly Zone[];
  readonly coreZone: string;
  /** Warnings found while validating (class contradicts data characteristics, …). */
  readonly warnings: readonly ConfigProblem[];
  zone(name: string): Zone;
  hasZone(name: string): boolean;
  service(name: string): ServiceConfig;
  /** Shard → owner zone at epoch 1 (before any failover). */
  initialOwners(): readonly string[];
  /** The shard a fence maps to. */
  fenceShard(fence: string): number;
  resource(name: string): ResourceConfig | undefined;
  /**
   * `file:line` of a setting (its deepest present key), for errors about a value that was
   * valid but did not work at runtime (an unreachable database URL, …).
   */
  where(path: readonly (string | number)[]): string;
  /**
   * A problem with a setting found after validation (one that cannot work for the zones this
   * process runs), located like validation's: for `configInvalid([...])`.
   */
  problem(path: readonly (string | number)[], message: string): ConfigProblem;
}

/** Path of the four-zone topology that ships inside the package. */
export const DEFAULT_TOPOLOGY_FILE = fileURLToPath(new URL('./default-topology.yaml', import.meta.url));

export function parseHostPort(s: string): HostPort {
  const i = s.lastIndexOf(':');
  let host = s.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port: Number(s.slice(i + 1)) };
}

function tierZones(t: Tier): string[] {
  return typeof t === 'string' ? [t] : t;
}

/** Parses ranges like ['0-255', '300'] into shard numbers. */
function expandRanges(ranges: readonly string[]): number[] {
  const out: number[] = [];
  for (const r of ranges) {
    const [a, b] = r.split('-').map(Number) as [number, number | undefined];
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

/** A zone's `app:` with its placeholders resolved; undefined when the upstream is not a usable URL. */
function externalApp(
  zone: string,
  app: NonNullable<TopologyConfig['zones'][string]['app']>,
  file: string,
): ExternalApp | undefined {
  const url = zoneUrl(app.upstream, zone);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return {
    url: `http://${u.host}`,
    host: host === 'localhost' ? '127.0.0.1' : host,
    port: Number(u.port),
    health: app.health,
    keyFile: zoneUrl(app.keyFile, zone),
    name: app.name,
    run: app.command
      ? {
          command: app.command,
          cwd: resolve(dirname(resolve(file)), app.cwd ?? '.'),
          env: app.env,
          startTimeoutMs: app.startTimeoutMs,
        }
      : undefined,
  };
}

/** Cross-reference checks zod can't express; every problem, in one pass. */
function crossCheck(src: YamlSource, t: TopologyConfig): ConfigProblem[] {
  const p: ConfigProblem[] = [];
  const zoneNames = Object.keys(t.zones);
  const regionNames = Object.keys(t.regions);
  const choices = (xs: string[]) => `valid: ${xs.join(', ')}`;

  const cores = zoneNames.filter((z) => t.zones[z]!.core);
  if (cores.length === 0)
    p.push(src.problem(['zones'], 'no zone has `core: true`; exactly one zone must be the core zone'));
  for (const extra of cores.slice(1))
    p.push(
      src.problem(
        ['zones', extra, 'core'],
        `two core zones (${cores.join(', ')}); exactly one zone may have core: true`,
      ),
    );

  const seen = new Map<string, string>();
  const claim = (addr: string, path: (string | number)[]) => {
    const hp = parseHostPort(addr);
    if (hp.port === 0) return;
    const key = `${hp.host}:${hp.port}`;
    const prev = seen.get(key);
    if (prev) p.push(src.problem(path, `${key} is already used by ${prev}; two listeners cannot share a port`));
    else seen.set(key, path.join('.'));
  };
  if (t.control?.listen) claim(t.control.listen, ['control', 'listen']);

  for (const [zn, z] of Object.entries(t.zones)) {
    if (!t.regions[z.region] && !(z.region in t.regions))
      p.push(src.problem(['zones', zn, 'region'], `unknown region "${z.region}" (${choices(regionNames)})`));
    (z.backups ?? []).forEach((b, i) => {
      if (b === zn) p.push(src.problem(['zones', zn, 'backups', i], `zone "${zn}" cannot back itself up`));
      else if (!t.zones[b])
        p.push(src.problem(['zones', zn, 'backups', i], `unknown zone "${b}" (${choices(zoneNames)})`));
    });
    if (new Set(z.backups ?? []).size !== (z.backups ?? []).length)
      p.push(src.problem(['zones', zn, 'backups'], 'a backup zone is listed twice'));
    for (const role of ROLES) {
      const addr = z.listen?.[role];
      if (addr) claim(addr, ['zones', zn, 'listen', role]);
    }
    if (z.app && z.listen?.app)
      p.push(
        src.problem(
          ['zones', zn, 'app'],
          'the zone has both an external app (app.upstream) and listen.app; set one: listen.app is where multizone starts its own app',
        ),
      );
    if (z.app?.upstream) {
      const u = externalApp(zn, z.app, src.file);
      if (u) claim(`${u.host.includes(':') ? `[${u.host}]` : u.host}:${u.port}`, ['zones', zn, 'app', 'upstream']);
    }
  }

  if (t.anycast) {
    for (const zn of Object.keys(t.anycast.zones ?? {}))
      if (!t.zones[zn]) p.push(src.problem(['anycast', 'zones', zn], `unknown zone "${zn}" (${choices(zoneNames)})`));
    for (const [pn, pf] of Object.entries(t.anycast.prefixes ?? {}))
      for (const zn of pf.zones ?? Object.keys(t.anycast.zones ?? {}))
        if (t.zones[zn] && !t.zones[zn]!.listen?.[pf.role])
          p.push(
            src.problem(
              ['anycast', 'prefixes', pn, 'role'],
              `zone "${zn}" announces ${pf.prefix} for its ${pf.role} but has no listen.${pf.role}`,
            ),
          );
  }

  for (const [pn, pol] of Object.entries(t.policies)) {
    if (pol.latency && t.dns.workers !== 1)
      p.push(
        src.problem(
          ['dns', 'workers'],
          `dns.workers ${t.dns.workers} cannot rank by latency (policies.${pn}.latency: true): the speed reports live in the zone's process; use workers: 1 or turn latency off`,
        ),
      );
    const checkTiers = (tiers: Tier[], path: (string | number)[]) => {
      const used = new Set<string>();
      tiers.forEach((tr, i) => {
        for (const [k, z] of tierZones(tr).entries()) {
          const at = typeof tr === 'string' ? [...path, i] : [...path, i, k];
          if (!t.zones[z]) p.push(src.problem(at, `unknown zone "${z}" (${choices(zoneNames)})`));
          else if (used.has(z)) p.push(src.problem(at, `zone "${z}" appears twice in this list`));
          used.add(z);
        }
      });
    };
    (pol.rules ?? []).forEach((r, i) => {
      checkTiers(r.zones, ['policies', pn, 'rules', i, 'zones']);
      if (!r.countries && !r.provinces && !r.isps)
        p.push(src.problem(['policies', pn, 'rules', i], 'a rule must match on countries, provinces or isps'));
    });
    if (pol.default) checkTiers(pol.default, ['policies', pn, 'default']);
  }

  for (const [sn, s] of Object.entries(t.services)) {
    if (s.policy && !t.policies?.[s.policy])
      p.push(
        src.problem(['services', sn, 'policy'], `unknown policy "${s.policy}" (${choices(Object.keys(t.policies))})`),
      );
    if (s.role && !s.cname && !zoneNames.some((z) => t.zones[z]!.listen?.[s.role]))
      p.push(
        src.problem(['services', sn, 'role'], `no zone listens for role "${s.role}", so this name has no addresses`),
      );
    if (!sn.toLowerCase().endsWith(`.${t.apex.toLowerCase()}`) && sn.toLowerCase() !== t.apex.toLowerCase())
      p.push(src.problem(['services', sn], `service name is not under the apex "${t.apex}"`));
  }

  for (const [fn, f] of Object.entries(t.shards?.fences ?? {})) {
    if (!t.zones[f.zone])
      p.push(src.problem(['shards', 'fences', fn, 'zone'], `unknown zone "${f.zone}" (${choices(zoneNames)})`));
    if (f.shard !== undefined && f.shard >= t.shards.count)
      p.push(
        src.problem(['shards', 'fences', fn, 'shard'], `shard ${f.shard} is out of range 0..${t.shards.count - 1}`),
      );
    const why = polygonProblem(f.geometry);
    if (why) p.push(src.problem(['shards', 'fences', fn, 'geometry'], `invalid polygon: ${why}`));
  }

  if (t.shards?.assignment) {
    const owner = new Map<number, string>();
    for (const [zn, ranges] of Object.entries(t.shards.assignment)) {
      if (!t.zones[zn]) {
        p.push(src.problem(['shards', 'assignment', zn], `unknown zone "${zn}" (${choices(zoneNames)})`));
        continue;
      }
      ranges.forEach((r, i) => {
        for (const s of expandRanges([r])) {
          if (s >= t.shards.count) {
            p.push(src.problem(['shards', 'assignment', zn, i], `shard ${s} is out of range 0..${t.shards.count - 1}`));
            break;
          }
          const prev = owner.get(s);
          if (prev) {
            p.push(src.problem(['shards', 'assignment', zn, i], `shard ${s} is already assigned to ${prev}`));
            break;
          }
          owner.set(s, zn);
        }
      });
    }
    if (owner.size !== t.shards.count && p.length === 0)
      p.push(
        src.problem(
          ['shards', 'assignment'],
          `assigns ${owner.size} of ${t.shards.count} shards; every shard needs an owner`,
        ),
      );
  }

  const mappingNames = Object.keys(t.shards?.mappings ?? {});
  for (const [rn, r] of Object.entries(t.resources ?? {})) {
    const at = ['resources', rn];
    if (r.key && !t.shards?.mappings?.[r.key])
      p.push(src.problem([...at, 'key'], `unknown mapping "${r.key}" (${choices(mappingNames)})`));
    // the lecture's data characteristics against the chosen class: warnings, not errors
    if (r.unique && r.class === 'sharded')
      p.push(
        src.problem(
          [...at, 'class'],
          'a unique resource that is `sharded` is the registration trap: two zones could both accept the same value (one phone number, two accounts); make it `global`',
          'warning',
        ),
      );
    if (r.regenerable && r.class !== 'local')
      p.push(
        src.problem(
          [...at, 'class'],
          "a regenerable resource needn't be replicated (users can log in again); `local` with fetch-from-owner is cheaper",
          'warning',
        ),
      );
    if (r.unique && r.consistency === 'available')
      p.push(
        src.problem(
          [...at, 'consistency'],
          'a unique resource with `available` consistency can be written twice during failover',
          'warning',
        ),
      );
    if (r.freshness === 'strong' && r.class === 'sharded' && r.consistency === 'available')
      p.push(src.problem([...at, 'freshness'], 'strong freshness cannot hold with `available` failover', 'warning'));
  }
  return p;
}

/** Parses and validates topology text; throws ERR_CONFIG_INVALID listing every problem. */
export function parseTopology(text: string, file = '<inline>'): Topology {
  return build(new YamlSource(file, text));
}

/** Reads, validates and freezes a topology file (default: the bundled four-zone one). */
export function loadTopology(file: string = DEFAULT_TOPOLOGY_FILE): Topology {
  return build(readYamlSource(file));
}

/** Validates without throwing: every problem (errors and warnings). */
export function checkTopology(src: YamlSource): { problems: ConfigProblem[]; topology?: Topology } {
  const syntax = src.syntaxProblems();
  if (syntax.length) return { problems: syntax };
  const data = oneByteStrings(src.doc.toJS());
  if (data === null || typeof data !== 'object')
    return { problems: [src.problem([], 'expected a mapping at the top of the file')] };
  const res = topologySchema.safeParse(data);
  if (!res.success) {
    // still run the cross-reference checks on the raw data, so one pass reports everything;
    // a part too broken to check is skipped (its schema problem is already reported)
    const problems = zodProblems(src, topologySchema, data, res.error.issues);
    try {
      const seen = new Set(problems.map((p) => p.path));
      for (const p of crossCheck(src, data as TopologyConfig)) if (!seen.has(p.path)) problems.push(p);
    } catch {
      // the raw shape was too far from the schema for the cross-checks
    }
    return { problems };
  }
  const problems = crossCheck(src, res.data);
  if (problems.some((x) => x.severity === 'error')) return { problems };
  return { problems, topology: makeTopology(src, res.data, problems) };
}

function build(src: YamlSource): Topology {
  const { problems, topology } = checkTopology(src);
  if (!topology) throw configInvalid(problems);
  return topology;
}

function makeTopology(src: YamlSource, config: TopologyConfig, warnings: ConfigProblem[]): Topology {
  const file = src.file;
  deepFreeze(config);
  const zones: Zone[] = Object.entries(config.zones).map(([name, z]) => {
    const listen: Partial<Record<Role, HostPort>> = {};
    for (const role of ROLES) if (z.listen[role]) listen[role] = parseHostPort(z.listen[role]!);
    const external = z.app ? externalApp(name, z.app, file) : undefined;
    // the app role's listener is the external app's address: probed, resolved, forwarded to
    if (external) listen.app = { host: external.host, port: external.port };
    return deepFreeze({
      name,
      region: z.region,
      core: z.core,
      backups: z.backups,
      capacity: typeof z.capacity === 'number' ? z.capacity : z.capacity.rps,
      weight: z.weight,
      isps: z.isps,
      listen,
      addresses6: z.addresses6,
      external,
    });
  });
  const byName = new Map(zones.map((z) => [z.name, z]));
  const coreZone = zones.find((z) => z.core)!.name;

  let owners: string[] | undefined;
  const initialOwners = (): string[] => {
    if (owners) return owners;
    const n = config.shards.count;
    const out = new Array<string>(n);
    if (config.shards.assignment) {
      for (const [zn, ranges] of Object.entries(config.shards.assignment))
        for (const s of expandRanges(ranges)) out[s] = zn;
    } else {
      // contiguous ranges sized by capacity, in declaration order: 4 equal zones of 1024 → 256 each
      const total = zones.reduce((a, z) => a + z.capacity, 0);
      let start = 0;
      zones.forEach((z, i) => {
        const end = i === zones.length - 1 ? n : Math.min(n, start + Math.round((n * z.capacity) / total));
        for (let s = start; s < end; s++) out[s] = z.name;
        start = end;
      });
    }
    owners = Object.freeze(out) as string[];
    return owners;
  };

  const fenceShard = (fence: string): number => {
    const f = config.shards.fences[fence];
    if (!f) throw topologyErrors.ERR_TOPOLOGY_UNKNOWN_ZONE(`unknown fence ${fence}`);
    if (f.shard !== undefined) return f.shard;
    const mine = initialOwners()
      .map((z, s) => (z === f.zone ? s : -1))
      .filter((s) => s >= 0);
    return mine.length ? mine[fnv1a(fence) % mine.length]! : fnv1a(fence) % config.shards.count;
  };

  // lowercased name → service, first spelling wins: service() runs on every DNS miss (steering)
  const servicesByName = new Map<string, ServiceConfig>();
  for (const [k, v] of Object.entries(config.services)) {
    const lower = k.toLowerCase();
    if (!servicesByName.has(lower)) servicesByName.set(lower, v);
  }

  return Object.freeze({
    file,
    config,
    zones,
    coreZone,
    warnings,
    zone(name: string): Zone {
      const z = byName.get(name);
      if (!z)
        throw topologyErrors.ERR_TOPOLOGY_UNKNOWN_ZONE(
          `unknown zone "${name}" (valid: ${[...byName.keys()].join(', ')})`,
        );
      return z;
    },
    hasZone: (name: string) => byName.has(name),
    service(name: string): ServiceConfig {
      const v = servicesByName.get(name) ?? servicesByName.get(name.toLowerCase().replace(/\.$/, ''));
      if (v !== undefined) return v;
      throw topologyErrors.ERR_TOPOLOGY_UNKNOWN_SERVICE(
        `unknown service "${name}" (valid: ${Object.keys(config.services).join(', ')})`,
      );
    },
    initialOwners,
    fenceShard,
    resource: (name: string) => config.resources[name],
    where: (path: readonly (string | number)[]) => `${file}:${src.locate(path).line}`,
    problem: (path: readonly (string | number)[], message: string) => src.problem(path, message),
  });
}
