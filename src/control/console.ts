import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Counter, Gauge } from 'prom-client';
import { request } from 'undici';
import type { Clock, Timer } from '../core/clock.ts';
import type { Registry } from '../core/metrics.ts';
import { ClusterCalls, type Unreached } from './cluster-calls.ts';
import { type ClusterConflicts, registerClusterAnycast, registerClusterConflicts } from './cluster-routes.ts';
import { controlErrors } from './errors.ts';
import { readBody } from './http-json.ts';
import { type ControlServer, isForwarded } from './server.ts';

/** What the console reads and acts on; everything else it reads through the control API's own GET routes. */
export interface ConsoleOptions {
  control: ControlServer;
  metrics: Registry;
  clock: Clock;
  /** The built page (`npm run build` → dist/console); default: dist/console of this package. */
  assets?: string;
  /** Each local zone's edge base URL and the edges' admin token (for purges). */
  edges?: () => ReadonlyMap<string, string>;
  edgeToken?: () => string;
  /** How often a connected page may get a new snapshot (ms, only when something changed). */
  pushMs?: number;
  /** How often the history ring buffer takes a sample (ms); 180 samples kept (15 min at 5 s). */
  sampleMs?: number;
}

/** One history sample: per link lag, per zone rates, taken every sampleMs. */
export interface ConsoleSample {
  /** Wall ms. */
  t: number;
  /** `origin>dest` → [records, seconds]. */
  links: Record<string, [number, number]>;
  /** zone → rates over the last interval (per second) and the edge hit ratio (0..1, null with no requests). */
  zones: Record<string, { rps: number; err: number; edge: number; hit: number | null; dns: number; httpdns: number }>;
  /** DNS answers with rcode SERVFAIL per second, all zones. */
  servfail: number;
}

const HISTORY = 180;
const DEFAULT_ASSETS = fileURLToPath(new URL('../../dist/console/', import.meta.url));

/** A built file served from memory, with its gzipped copy. */
interface Asset {
  type: string;
  body: Buffer;
  gz: Buffer;
}

/**
 * The operator console on the control API: `GET /` (the page built from web/console),
 * `GET /console/*` (its script and style), `GET /api/events` (Server-Sent Events: a
 * `history` event, then a `snapshot` whenever the cluster changed and a `sample` every
 * sampleMs), `GET /api/snapshot` (the same, for polling) and `POST /api/purge`.
 */
export function registerConsole(o: ConsoleOptions): { stop(): void } {
  const { control, clock } = o;
  const pushMs = o.pushMs ?? 1000;
  const sampleMs = o.sampleMs ?? 5000;
  const history: ConsoleSample[] = [];
  const clients = new Set<ServerResponse>();
  const m = consoleMetrics(o.metrics, control, clock, () => clients.size);
  let last = '';
  let push: Timer | undefined;
  let prev: Totals | undefined;
  /** This process's own latest sample (what other processes merge into theirs). */
  let local: ConsoleSample | undefined;
  let building: Promise<string> | undefined;

  const assets = loadAssets(o.assets ?? DEFAULT_ASSETS);
  const serve = (name: string) => (req: IncomingMessage, _url: URL, res: ServerResponse) => {
    const a = assets.get(name);
    if (!a) {
      res.writeHead(503, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        '<!doctype html><title>multizone console</title><p>The console is not built: run <code>npm run build</code>. ' +
          'The classic dashboard is at <a href="/classic">/classic</a>.</p>',
      );
      return;
    }
    const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gz ? a.gz : a.body;
    res.writeHead(200, {
      'content-type': a.type,
      'content-length': body.length,
      'cache-control': name === 'index.html' ? 'no-cache' : 'max-age=300',
      vary: 'accept-encoding',
      ...(gz ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(body);
  };
  control.route('GET', '/', serve('index.html'));
  control.route('GET', '/console/app.js', serve('app.js'));
  control.route('GET', '/console/app.css', serve('app.css'));

  /** Builds the snapshot once for every client (a second caller in the same tick shares it). */
  const build = (): Promise<string> => {
    building ??= snapshot(control, clock)
      .then((s) => {
        m.snapshots.inc();
        return JSON.stringify(s);
      })
      .finally(() => {
        building = undefined;
      });
    return building;
  };
  const send = (res: ServerResponse, event: string, data: string) => res.write(`event: ${event}\ndata: ${data}\n\n`);
  const tick = async () => {
    const text = await build();
    // the `at` field always differs: compare the rest
    const body = text.replace(/^\{"at":[\d.]+,/, '{');
    if (body === last) return;
    last = body;
    for (const c of clients) send(c, 'snapshot', text);
  };

  control.route('GET', '/api/events', async (req, _url, res) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    send(res, 'history', JSON.stringify(history));
    send(res, 'snapshot', await build());
    clients.add(res);
    push ??= clock.setInterval(pushMs, () => void tick().catch(() => {}));
    const gone = () => {
      clients.delete(res);
      if (clients.size === 0) {
        push?.cancel();
        push = undefined;
        last = '';
      }
    };
    req.on('close', gone);
    res.on('error', gone);
    return undefined;
  });
  control.route('GET', '/api/snapshot', async (_req, url) => {
    const since = Number(url.searchParams.get('since') ?? 0);
    return { snapshot: JSON.parse(await build()), history: history.filter((h) => h.t > since) };
  });
  const calls = new ClusterCalls(control);
  control.route('POST', '/api/purge', async (req) => purge(o, calls, req));
  registerClusterConflicts(control, calls);
  registerClusterAnycast(control, calls);
  // this process's own latest sample: the consoles of the other processes merge it into theirs
  control.route('GET', '/api/console/sample', () => local ?? null);

  const sample = async () => {
    const totals = await readTotals(o.metrics, clock);
    const repl = (await control.get('/api/replication')) as { links?: ReplLink[] } | undefined;
    const t = clock.wallTime();
    const own = toSample(t, repl?.links ?? [], prev, totals);
    prev = totals;
    if (!own) return;
    local = own;
    const s = await mergeRemote(control, own);
    history.push(s);
    if (history.length > HISTORY) history.shift();
    const text = JSON.stringify(s);
    for (const c of clients) send(c, 'sample', text);
  };
  void sample().catch(() => {});
  const sampler = clock.setInterval(sampleMs, () => void sample().catch(() => {}));
  const heartbeat = clock.setInterval(15_000, () => {
    for (const c of clients) c.write(': keep-alive\n\n');
  });

  const stop = () => {
    sampler.cancel();
    heartbeat.cancel();
    push?.cancel();
    for (const c of clients) c.end();
    clients.clear();
  };
  control.onClose(stop);
  return { stop };
}

/** The page's files, read once; a missing build leaves the map empty (the page says how to build it). */
function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const types: Record<string, string> = {
    'index.html': 'text/html; charset=utf-8',
    'app.js': 'text/javascript; charset=utf-8',
    'app.css': 'text/css; charset=utf-8',
  };
  for (const [name, type] of Object.entries(types)) {
    try {
      const body = readFileSync(`${dir}/${name}`);
      out.set(name, { type, body, gz: gzipSync(body, { level: 9 }) });
    } catch {
      // not built: the page routes answer 503 with how to build it
    }
  }
  return out;
}

interface ReplLink {
  origin: string;
  dest: string;
  records: number;
  seconds: number;
  down: boolean;
}

/**
 * The whole cluster as the page shows it, read through the control API's own GET routes (a
 * route that is not there, or fails, is null): topology, health, shard map (owners and epochs
 * as arrays), replication, open conflicts of every process (first 200, and the processes that
 * did not answer), the last 60 audit entries, load, processes, drills.
 */
async function snapshot(control: ControlServer, clock: Clock): Promise<Record<string, unknown>> {
  const [topology, health, shardmap, replication, conflicts, audit, load, cluster, drills] = await Promise.all([
    control.get('/api/topology'),
    control.get('/api/health'),
    control.get('/api/shardmap?shards=1'),
    control.get('/api/replication'),
    control.get('/api/cluster/conflicts'),
    control.get('/api/audit?limit=60'),
    control.get('/api/load'),
    control.get('/api/cluster'),
    control.get('/api/drills'),
  ]);
  return {
    at: clock.wallTime(),
    topology: topology ?? null,
    health: health ?? null,
    shardmap: compactShardMap(shardmap as ShardMapJson | undefined),
    replication: replication ?? null,
    conflicts: conflicts ? (conflicts as ClusterConflicts).conflicts.slice(0, 200) : null,
    conflictCount: conflicts ? (conflicts as ClusterConflicts).conflicts.length : 0,
    // processes whose zones' conflicts are missing from the list ("sh-b: not answering")
    conflictsUnreached: conflicts ? (conflicts as ClusterConflicts).unreached : [],
    audit: audit ? (audit as { entries: unknown[] }).entries : null,
    load: load ?? null,
    processes: cluster
      ? (cluster as { processes: Record<string, unknown>[] }).processes.map(({ listeners, ...p }) => ({
          ...p,
          listeners: Array.isArray(listeners) ? listeners.length : 0,
        }))
      : null,
    drills: drills ?? null,
  };
}

interface ShardMapJson {
  shards?: { zone: string; epoch: number; draining?: boolean }[];
  [k: string]: unknown;
}

/** 1024 shard objects become three arrays: owner (index into `owners`), epoch, draining shard numbers. */
function compactShardMap(s: ShardMapJson | undefined): unknown {
  if (!s) return null;
  const { shards = [], ...rest } = s;
  const owners: string[] = [];
  const owner: number[] = [];
  const epoch: number[] = [];
  const draining: number[] = [];
  shards.forEach((x, i) => {
    let k = owners.indexOf(x.zone);
    if (k < 0) k = owners.push(x.zone) - 1;
    owner.push(k);
    epoch.push(x.epoch);
    if (x.draining) draining.push(i);
  });
  return { ...rest, owners, owner, epoch, draining };
}

/** Counter totals by zone, as read from the registry at one moment. */
interface Totals {
  at: number;
  router: Map<string, number>;
  rejected: Map<string, number>;
  edge: Map<string, number>;
  hits: Map<string, number>;
  dns: Map<string, number>;
  servfail: number;
  httpdns: Map<string, number>;
}

async function sumBy(reg: Registry, name: string, filter?: (l: Record<string, unknown>) => boolean) {
  const out = new Map<string, number>();
  const metric = reg.getSingleMetric(name);
  if (!metric) return out;
  const v = await metric.get();
  for (const x of v.values) {
    const labels = x.labels as Record<string, unknown>;
    if (filter && !filter(labels)) continue;
    const z = String(labels.zone ?? '');
    out.set(z, (out.get(z) ?? 0) + x.value);
  }
  return out;
}

async function readTotals(reg: Registry, clock: Clock): Promise<Totals> {
  const servfail = await sumBy(reg, 'mz_dns_queries_total', (l) => l.rcode === 'SERVFAIL');
  return {
    at: clock.now(),
    router: await sumBy(reg, 'mz_router_requests_total'),
    rejected: await sumBy(reg, 'mz_router_rejected_total'),
    edge: await sumBy(reg, 'mz_edge_requests_total'),
    hits: await sumBy(reg, 'mz_edge_hits_total'),
    dns: await sumBy(reg, 'mz_dns_queries_total'),
    servfail: [...servfail.values()].reduce((a, b) => a + b, 0),
    httpdns: await sumBy(reg, 'mz_httpdns_requests_total'),
  };
}

/**
 * Distributed mode: every other live process's own latest sample (GET /api/console/sample on
 * its control API, 1 s bound) merged in, so the charts cover every zone and link of the
 * cluster; a process that does not answer leaves its zones out of this sample.
 */
async function mergeRemote(control: ControlServer, own: ConsoleSample): Promise<ConsoleSample> {
  const cluster = (await control.get('/api/cluster')) as
    | { processes: { control?: string; alive?: boolean; here?: boolean }[] }
    | undefined;
  const others = (cluster?.processes ?? []).filter((p) => !p.here && p.alive && /^https?:\/\//.test(p.control ?? ''));
  if (others.length === 0) return own;
  const out: ConsoleSample = { ...own, links: { ...own.links }, zones: { ...own.zones } };
  await Promise.all(
    others.map(async (p) => {
      try {
        const r = await request(`${p.control}/api/console/sample`, { headersTimeout: 1000, bodyTimeout: 1000 });
        const s = (await r.body.json()) as ConsoleSample | null;
        if (r.statusCode !== 200 || !s) return;
        for (const [k, v] of Object.entries(s.links ?? {})) out.links[k] ??= v;
        for (const [k, v] of Object.entries(s.zones ?? {})) out.zones[k] ??= v;
        out.servfail += s.servfail ?? 0;
      } catch {
        // not reachable now: its zones are missing from this one sample
      }
    }),
  );
  return out;
}

/** Rates between two totals; undefined for the first (no interval yet). */
function toSample(t: number, links: ReplLink[], prev: Totals | undefined, now: Totals): ConsoleSample | undefined {
  if (!prev) return undefined;
  const dt = Math.max(0.001, (now.at - prev.at) / 1000);
  const rate = (k: 'router' | 'rejected' | 'edge' | 'hits' | 'dns' | 'httpdns', z: string) =>
    Math.max(0, ((now[k].get(z) ?? 0) - (prev[k].get(z) ?? 0)) / dt);
  const zones: ConsoleSample['zones'] = {};
  const names = new Set([...now.router.keys(), ...now.edge.keys(), ...now.dns.keys(), ...now.httpdns.keys()]);
  names.delete('');
  for (const z of names) {
    const edge = rate('edge', z);
    zones[z] = {
      rps: round(rate('router', z)),
      err: round(rate('rejected', z)),
      edge: round(edge),
      hit: edge > 0 ? round(rate('hits', z) / edge) : null,
      dns: round(rate('dns', z)),
      httpdns: round(rate('httpdns', z)),
    };
  }
  const out: ConsoleSample['links'] = {};
  for (const l of links) out[`${l.origin}>${l.dest}`] = [l.records, round(l.seconds)];
  return { t, links: out, zones, servfail: round(Math.max(0, (now.servfail - prev.servfail) / dt)) };
}

const round = (x: number) => Math.round(x * 100) / 100;

/** The console's own metrics, and the lease gauge the alert rules watch (read from the shard map route). */
function consoleMetrics(reg: Registry, control: ControlServer, clock: Clock, clients: () => number) {
  const snapshots = new Counter({
    name: 'mz_control_snapshots_total',
    help: 'Console snapshots built (one per push interval with a page open, shared by every open page)',
    registers: [reg],
  });
  new Gauge({
    name: 'mz_control_event_streams',
    help: 'Pages connected to GET /api/events',
    registers: [reg],
    collect() {
      this.set(clients());
    },
  });
  new Gauge({
    name: 'mz_shardmap_lease_remaining_seconds',
    help: 'Seconds until each zone’s lease in the control Kv expires, as this process sees it (renewed well before 0)',
    labelNames: ['zone'],
    registers: [reg],
    async collect() {
      const s = (await control.get('/api/shardmap?shards=0')) as
        | { zones?: Record<string, { lease?: { expiresAt?: number } | null }> }
        | undefined;
      this.reset();
      const now = clock.wallTime();
      for (const [zone, z] of Object.entries(s?.zones ?? {}))
        if (z.lease?.expiresAt) this.set({ zone }, Math.max(0, (z.lease.expiresAt - now) / 1000));
    },
  });
  return { snapshots };
}

/** What one edge purged (status 0: it did not answer). */
interface EdgePurge {
  zone: string;
  status: number;
  purged: number;
  error?: string | undefined;
}

/**
 * POST /api/purge `{"url"|"prefix"|"key": "...", "soft"?: "true"}`: the same purge on every
 * local zone's edge (its /.mz/purge admin call) and, unless the call was forwarded here, on
 * every other live process's (its own POST /api/purge, signed): answers what each zone's edge
 * purged, and which processes did not answer (`unreached`, their zones' edges not purged).
 */
async function purge(o: ConsoleOptions, calls: ClusterCalls, req: IncomingMessage): Promise<unknown> {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8') || '{}');
  } catch {
    throw controlErrors.ERR_CONTROL_BAD_REQUEST('body must be JSON: {"url"|"prefix"|"key":"..."}');
  }
  const pick = (k: string) => (typeof body[k] === 'string' && body[k] ? [body[k] as string] : []);
  const urls = pick('url');
  const prefixes = pick('prefix');
  const tags = pick('key');
  if (urls.length + prefixes.length + tags.length === 0)
    throw controlErrors.ERR_CONTROL_BAD_REQUEST('need one of {"url":"/path"}, {"prefix":"/static/"}, {"key":"tag"}');
  const soft = body.soft === true || body.soft === 'true';
  const [edges, remote] = await Promise.all([
    purgeLocal(o, { urls, prefixes, tags, soft }),
    isForwarded(req) ? undefined : calls.fanOut('POST', '/api/purge', body),
  ]);
  for (const r of remote?.replies ?? []) edges.push(...((r.json as { edges?: EdgePurge[] } | undefined)?.edges ?? []));
  const unreached: Unreached[] = remote?.unreached ?? [];
  edges.sort((a, b) => (a.zone < b.zone ? -1 : 1));
  return { urls, prefixes, tags, edges, unreached };
}

/** The purge on every edge this process runs. */
async function purgeLocal(
  o: ConsoleOptions,
  what: { urls: string[]; prefixes: string[]; tags: string[]; soft: boolean },
): Promise<EdgePurge[]> {
  const edges = o.edges?.() ?? new Map<string, string>();
  const token = o.edgeToken?.() ?? '';
  return Promise.all(
    [...edges].map(async ([zone, base]) => {
      try {
        const r = await request(`${base}/.mz/purge`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(what),
          headersTimeout: 5000,
          bodyTimeout: 5000,
        });
        const j = (await r.body.json().catch(() => ({}))) as { purged?: number; error?: string };
        return { zone, status: r.statusCode, purged: j.purged ?? 0, error: j.error };
      } catch (e) {
        return { zone, status: 0, purged: 0, error: (e as Error).message };
      }
    }),
  );
}
