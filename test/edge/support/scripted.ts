/**
 * Scripted scenarios for the edge (STYLE.md §6, like Varnish's .vtc server/client blocks): a
 * fake origin that takes the next scripted step for each request it receives, checks the
 * request and sends the step's reply; and an edge in front of it with an undici client.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { Client, Pool } from 'undici';
import { ManualClock } from '../../../src/core/clock.ts';
import { createMetrics, type Registry } from '../../../src/core/metrics.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { formatHttpDate } from '../../../src/edge/http-date.ts';
import { createEdge, type Edge, type EdgeConfig } from '../../../src/edge/index.ts';
import { topologySchema } from '../../../src/topology/index.ts';

/** What the origin received. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One scripted origin step. */
export interface Step {
  /** Checks the request (throw/assert to fail the test; failures are collected). */
  expect?: (r: Received) => void;
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Don't answer until this promise resolves. */
  hold?: Promise<unknown>;
  /** Destroy the connection instead of answering. */
  reset?: boolean;
  /** 103 Early Hints sent before the final response. */
  hints?: Record<string, string | string[]>;
  /** Writes the reply itself (status, headers and body in its own time) instead of the fields above. */
  write?: (res: ServerResponse) => Promise<void>;
}

/** A fake origin that answers from a script. */
export class ScriptedOrigin {
  readonly received: Received[] = [];
  readonly failures: unknown[] = [];
  private steps: Step[] = [];
  server!: Server;
  url = '';
  private sockets = new Set<Socket>();

  constructor(private readonly clock: ManualClock) {}

  /** Appends steps to the script. */
  script(...steps: Step[]): void {
    this.steps.push(...steps);
  }

  /** Steps not used yet. */
  get pending(): number {
    return this.steps.length;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const r: Received = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        };
        this.received.push(r);
        const step = this.steps.shift();
        if (!step) {
          this.failures.push(new Error(`unexpected origin request ${r.method} ${r.url}`));
          res.writeHead(599, { 'content-length': '0' });
          res.end();
          return;
        }
        try {
          step.expect?.(r);
        } catch (e) {
          this.failures.push(e);
        }
        if (step.hold) await step.hold;
        if (step.reset) {
          req.socket.destroy();
          return;
        }
        if (step.hints) res.writeEarlyHints(step.hints);
        if (step.write) {
          await step.write(res);
          return;
        }
        const body = step.body ?? '';
        const headers: Record<string, string | string[]> = {
          date: formatHttpDate(this.clock.wallTime()),
          ...step.headers,
        };
        if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-length'))
          headers['content-length'] = String(Buffer.byteLength(body));
        res.writeHead(step.status ?? 200, headers);
        res.end(req.method === 'HEAD' ? undefined : body);
      });
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Asserts every step was used and every expectation held. */
  verify(): void {
    if (this.failures.length) throw this.failures[0];
    assert.equal(this.steps.length, 0, 'origin script has unused steps');
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A client answer with the body as text. */
export interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  raw: Buffer;
}

/**
 * Which hit path the edge suites run on: the lean path (the default, as in config) or, with
 * MZ_EDGE_LEAN_HITS=0, node:http only. test/integration/edge/node-path.test.ts runs every
 * edge suite again that way, so the same tests cover both paths.
 */
export const LEAN_HITS = process.env.MZ_EDGE_LEAN_HITS !== '0';

/** Edge config with defaults, overridden by `over` (deep for the nested sections). */
export function edgeConfig(over: Record<string, unknown> = {}): EdgeConfig {
  return topologySchema.shape.edge.parse({ leanHits: LEAN_HITS, ...over }) as EdgeConfig;
}

/** Hits served on each path over the whole test process (printed with MZ_EDGE_LEAN_REPORT=1). */
const served = { all: 0, lean: 0 };
if (process.env.MZ_EDGE_LEAN_REPORT === '1')
  process.on('exit', () => console.log(`# edge hits: ${served.all}, on the lean path: ${served.lean}`));

/** An edge (on a ManualClock) in front of a scripted origin, plus a client. */
export class Scenario {
  readonly clock = new ManualClock(0, 1_750_000_000_000);
  readonly origin = new ScriptedOrigin(this.clock);
  readonly metrics: Registry = createMetrics();
  edge!: Edge;
  url = '';
  private client!: Pool;

  async start(config: Record<string, unknown> = {}, opts: { token?: string; dynamic?: string } = {}): Promise<this> {
    await this.origin.start();
    this.edge = createEdge({
      zone: 'test',
      config: edgeConfig(config),
      origin: this.origin.url,
      dynamic: opts.dynamic,
      token: opts.token,
      clock: this.clock,
      random: seededRandom(1),
      metrics: this.metrics,
    });
    const a = await this.edge.listen('127.0.0.1', 0);
    this.url = `http://127.0.0.1:${a.port}`;
    this.client = new Pool(this.url, { connections: 16 });
    this.lean = this.edge.protocol === 'http' && (config.leanHits ?? LEAN_HITS) !== false;
    return this;
  }

  /** Is the lean hit path on (then each request opens its own connection, so it meets every request first)? */
  lean = false;

  /** Sends a request to the edge. */
  async req(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Got> {
    // on the lean path a connection moves to node:http at its first miss: a fresh connection
    // per request lets the lean path decide every request, hits after misses included
    const client = this.lean ? new Client(this.url) : this.client;
    try {
      const r = await client.request({ method: method as 'GET', path, headers, body });
      const raw = Buffer.from(await r.body.arrayBuffer());
      return { status: r.statusCode, headers: r.headers, body: raw.toString(), raw };
    } finally {
      if (client !== this.client) await client.close();
    }
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Got> {
    return this.req('GET', path, headers);
  }

  /** Moves the edge's clock (and the origin's Date) forward. */
  advance(seconds: number): void {
    this.clock.advance(seconds * 1000);
  }

  /** Date header value for now + offset seconds. */
  date(offsetSeconds = 0): string {
    return formatHttpDate(this.clock.wallTime() + offsetSeconds * 1000);
  }

  /** A metric's value summed over labels matching `labels`. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = await this.metrics.getSingleMetric(name)?.get();
    if (!m) return 0;
    return m.values
      .filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))
      .reduce((a, v) => a + v.value, 0);
  }

  async close(): Promise<void> {
    const hits = this.edge?.stats().hits as { all: number; lean: number } | undefined;
    if (hits) {
      served.all += hits.all;
      served.lean += hits.lean;
    }
    await this.client?.close();
    await this.edge?.close();
    await this.origin.close();
  }
}

/** Cache-Status parameters as a map ("multizone; hit; ttl=5" → {hit: true, ttl: '5'}). */
export function cacheStatus(g: Got): Record<string, string | true> {
  const v = String(g.headers['cache-status'] ?? '');
  const [name, ...params] = v.split(';').map((s) => s.trim());
  assert.equal(name, 'multizone');
  const out: Record<string, string | true> = {};
  for (const p of params) {
    const i = p.indexOf('=');
    if (i < 0) out[p] = true;
    else out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

/** A promise with its resolver, for holding origin replies. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

/** Sends raw bytes and collects everything until the server closes (or 2 s of quiet). */
export function raw(url: string, bytes: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), '127.0.0.1');
    let out = '';
    const t = setTimeout(() => sock.destroy(), 2000);
    sock.on('data', (d) => {
      out += d.toString('latin1');
    });
    sock.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
    sock.on('error', reject);
    sock.write(bytes);
  });
}

/** The status codes of every HTTP/1.1 response in a raw reply, in order. */
export function statuses(out: string): number[] {
  return [...out.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}
