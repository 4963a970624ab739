/**
 * The soak's steady mixed workload against a running cluster (`multizone up --app accounts`):
 * DNS with ECS over many subnets (UDP, and TCP a connection per query as `dig +tcp` does),
 * HTTPDNS, edge hits, misses and dynamic calls, the accounts app through the routers
 * (register, login, profile reads and writes, comments), and a dashboard polling the control
 * API. Open loop: each stream sends at its rate whatever the answers do, with a cap on what
 * it has in flight (over the cap a send is skipped and counted, never queued). Every key
 * space (250 subnets, 1000 client addresses, 900 edge URLs, 64 users) is seen in full within
 * the first minute, so each bounded cache is at its steady size long before the second half
 * of a run: what still grows then is a leak, not a cache warming up.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { Agent, request } from 'undici';

/** One listener of `multizone up --json`. */
export interface Endpoint {
  zone: string | null;
  role: string;
  host: string;
  port: number;
}

/** What one stream did. */
export interface StreamStats {
  name: string;
  /** Requests per second it aims at. */
  rate: number;
  sent: number;
  ok: number;
  /** Wrong answers, errors and timeouts. */
  failed: number;
  /** Not sent: the stream had `maxInFlight` unanswered. */
  skipped: number;
  /** The last failure, for people. */
  lastFailure: string;
}

/** A stream's one request: resolves true for a right answer, else what was wrong (or throws). */
type Fire = () => Promise<true | string>;

interface Stream {
  stats: StreamStats;
  fire: Fire;
  due: number;
  inFlight: number;
  maxInFlight: number;
}

/** 250 /24 subnets spread over Chinese and foreign address space (the ECS and HTTPDNS clients). */
export function subnets(n = 250): string[] {
  const firsts = [1, 14, 27, 36, 39, 42, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119];
  const more = [120, 121, 122, 123, 124, 125, 175, 180, 182, 183, 202, 203, 210, 211, 218, 219, 220, 221, 222, 223];
  const all = [...firsts, ...more, 8, 81, 93, 151];
  return Array.from({ length: n }, (_, i) => `${all[i % all.length]}.${(i * 37 + 11) % 256}.${(i * 11 + 3) % 256}.0`);
}

const DNS_TIMEOUT_MS = 2000;
/** Source addresses of the UDP client (several /24s, as several resolvers would be). */
const UDP_SOURCES = ['127.0.100.1', '127.0.101.1', '127.0.102.1', '127.0.103.1'];

/** A UDP DNS client: queries by id, answers matched back, a timeout per query. */
class UdpDns {
  private readonly sockets: dgram.Socket[] = [];
  private readonly pending = new Map<number, (p: dnsPacket.Packet | undefined) => void>();
  private nextId = 1;
  private k = 0;

  async open(): Promise<void> {
    for (const address of UDP_SOURCES) {
      const s = dgram.createSocket('udp4');
      s.on('message', (msg) => {
        let p: dnsPacket.Packet;
        try {
          p = dnsPacket.decode(msg);
        } catch {
          return;
        }
        const done = this.pending.get(p.id ?? -1);
        if (done) {
          this.pending.delete(p.id!);
          done(p);
        }
      });
      s.on('error', () => {});
      await new Promise<void>((r) => s.bind({ address, port: 0 }, r));
      this.sockets.push(s);
    }
  }

  query(host: string, port: number, msg: (id: number) => Buffer): Promise<dnsPacket.Packet | undefined> {
    const id = this.nextId;
    this.nextId = (this.nextId % 65535) + 1;
    const s = this.sockets[this.k++ % this.sockets.length]!;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, DNS_TIMEOUT_MS);
      this.pending.set(id, (p) => {
        clearTimeout(t);
        resolve(p);
      });
      s.send(msg(id), port, host);
    });
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }
}

/** One query over a new TCP connection (two-byte length prefix), closed after the answer. */
function tcpQuery(host: string, port: number, msg: Buffer): Promise<dnsPacket.Packet | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (p: dnsPacket.Packet | undefined) => {
      sock.destroy();
      resolve(p);
    };
    sock.setTimeout(DNS_TIMEOUT_MS, () => done(undefined));
    sock.on('error', () => done(undefined));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      sock.write(Buffer.concat([len, msg]));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        try {
          done(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        } catch {
          done(undefined);
        }
      }
    });
  });
}

/** An 8-byte client cookie (RFC 7873), new for every query: what a loop of `dig` sends. */
const freshCookie = () => randomBytes(8);

function dnsQuery(id: number, name: string, type: 'A' | 'AAAA', ecs?: string, cookie?: Buffer): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: ecs
      ? [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: 1232,
            options: [
              { code: 'CLIENT_SUBNET', family: 1, sourcePrefixLength: 24, scopePrefixLength: 0, ip: ecs },
              ...(cookie ? [{ code: 10, data: cookie }] : []),
            ],
          } as unknown as dnsPacket.Answer,
        ]
      : [],
  });
}

/** The workload's shape: rates per second by stream, multiplied by `scale`. */
export const RATES = {
  'dns-udp-ecs': 200,
  'dns-tcp': 2,
  httpdns: 50,
  'edge-hit': 120,
  'edge-miss': 30,
  'edge-api': 20,
  'route-read': 150,
  'route-write': 15,
  comment: 1,
  'comment-read': 2,
  login: 1,
  register: 0.2,
  dashboard: 3,
} as const;

/** Users registered before the load starts (the reads and writes go to them). */
export const USERS = 64;

interface User {
  id: string;
  phone: string;
  password: string;
  /** Router base URL of the zone it logged in at. */
  router: string;
  session: string;
}

/** The running workload: `stop()` ends it and resolves when nothing is in flight. */
export interface Workload {
  streams(): StreamStats[];
  /** Requests answered per second since the previous call. */
  rate(): number;
  /** Stops sending (a heap snapshot freezes the cluster for seconds); resume() goes on. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

const by = (eps: readonly Endpoint[], role: string, zone: string): Endpoint => {
  const e = eps.find((x) => x.role === role && x.zone === zone);
  if (!e) throw new Error(`soak: no ${role} listener for zone ${zone} in the cluster's endpoints`);
  return e;
};
const url = (e: Endpoint) => `http://${e.host}:${e.port}`;

/**
 * Registers the users, then runs every stream until stopped. `control` is the control API's
 * URL; `scale` multiplies every rate; `tag` keeps phone numbers apart between runs.
 */
export async function startWorkload(o: {
  endpoints: readonly Endpoint[];
  control: string;
  scale: number;
  /** The streams to run (default: every one of RATES). */
  only?: readonly string[];
  tag: string;
  log: (line: string) => void;
}): Promise<Workload> {
  const eps = o.endpoints;
  const zones = [...new Set(eps.filter((e) => e.role === 'router').map((e) => e.zone!))];
  const routers = zones.map((z) => url(by(eps, 'router', z)));
  const shaRouter = url(by(eps, 'router', 'sh-a'));
  const shbEdge = url(by(eps, 'edge', 'sh-b'));
  const shaHttpdns = url(by(eps, 'httpdns', 'sh-a'));
  const bjDns = by(eps, 'dns', 'bj-a');
  const gzDns = by(eps, 'dns', 'gz-a');
  const agent = new Agent({ connections: 16, keepAliveTimeout: 10_000, headersTimeout: 15_000, bodyTimeout: 15_000 });
  const call = async (
    method: 'GET' | 'POST' | 'PUT',
    target: string,
    headers: Record<string, string> = {},
    body?: unknown,
  ): Promise<{ status: number; text: string }> => {
    const r = await request(target, {
      method,
      dispatcher: agent,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.statusCode, text: await r.body.text() };
  };
  const json = (text: string): Record<string, unknown> => {
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      return {};
    }
  };

  // users: registered through the routers (forwarded to the core zone), logged in at one zone each
  let phones = 0;
  const newPhone = () => `+8619${o.tag}${String(phones++).padStart(5, '0')}`;
  const register = async (router: string): Promise<User | undefined> => {
    const phone = newPhone();
    const password = `soak-${phone}`;
    const reg = await call('POST', `${router}/api/register`, {}, { phone, password, name: `soak ${phone}` });
    if (reg.status !== 201) return undefined;
    const login = await call('POST', `${router}/api/login`, {}, { phone, password });
    const j = json(login.text);
    if (login.status !== 200 || typeof j.session !== 'string') return undefined;
    return { id: String(j.userId), phone, password, router, session: j.session };
  };
  const users: User[] = [];
  for (let i = 0; users.length < USERS; i++) {
    if (i > USERS * 3) throw new Error(`soak: could register only ${users.length} of ${USERS} users`);
    const u = await register(routers[i % routers.length]!);
    if (u) users.push(u);
  }
  o.log(`soak: ${users.length} users registered and logged in`);

  const nets = subnets();
  let n = 0;
  const pick = <T>(xs: readonly T[]): T => xs[n++ % xs.length]!;
  const udp = new UdpDns();
  await udp.open();
  const answered = (p: dnsPacket.Packet | undefined): true | string =>
    p === undefined
      ? 'no answer within 2 s'
      : (p as { rcode?: string }).rcode === 'NOERROR' || `rcode ${(p as { rcode?: string }).rcode}`;
  /** The answer's status is one of codes, else a short account of it. */
  const expect =
    (...codes: number[]) =>
    (r: { status: number; text: string }): true | string =>
      codes.includes(r.status) || `${r.status} ${r.text.slice(0, 80)}`;
  const STATIC = ['/index.html', '/style.css', '/app.js', '/1k.bin'];
  const PANELS = [
    '/api/topology',
    '/api/cluster',
    '/api/endpoints',
    '/api/health',
    '/api/shardmap',
    '/api/replication',
  ];

  const fires: Record<keyof typeof RATES, Fire> = {
    'dns-udp-ecs': async () => {
      const ecs = pick(nets);
      const dns = ecs.startsWith('2') ? gzDns : bjDns;
      return answered(
        await udp.query(dns.host, dns.port, (id) =>
          dnsQuery(id, 'api.shop.test', n % 10 === 0 ? 'AAAA' : 'A', ecs, freshCookie()),
        ),
      );
    },
    'dns-tcp': async () => answered(await tcpQuery(bjDns.host, bjDns.port, dnsQuery(1, 'api.shop.test', 'A'))),
    httpdns: async () => {
      // 1000 client addresses: every cache keyed by them (geo, decisions) is warm within a minute
      const ip = `${pick(nets).slice(0, -1)}${1 + (n % 4)}`;
      const r = await call('GET', `${shaHttpdns}/d?host=api.shop.test&ip=${ip}`);
      return expect(200)(r) === true && !r.text.includes('"ips":["')
        ? `no address: ${r.text.slice(0, 80)}`
        : expect(200)(r);
    },
    'edge-hit': async () => expect(200)(await call('GET', `${shbEdge}${pick(STATIC)}`, { host: 'static.shop.test' })),
    // a bounded set of query strings (each a cache key, all seen within a minute), a no-cache object and 404s
    'edge-miss': async () => {
      const k = n++;
      const path = k % 3 === 0 ? `/hello.txt?v=${k % 600}` : k % 3 === 1 ? '/news.json' : `/nope/${k % 300}`;
      return expect(200, 404)(await call('GET', `${shbEdge}${path}`, { host: 'static.shop.test' }));
    },
    'edge-api': async () => {
      const u = pick(users);
      return expect(
        200,
        404,
      )(await call('GET', `${shbEdge}/api/profiles/${u.id}`, { host: 'api.shop.test', 'x-user-id': u.id }));
    },
    // most reads enter at sh-a's router, as in issue 24's workload; the rest anywhere
    'route-read': async () => {
      const u = pick(users);
      const router = n % 4 === 0 ? pick(routers) : shaRouter;
      return expect(200, 404)(await call('GET', `${router}/api/profiles/${u.id}`, { 'x-user-id': u.id }));
    },
    'route-write': async () => {
      const u = pick(users);
      const r = await call(
        'PUT',
        `${u.router}/api/profiles/${u.id}`,
        { 'x-user-id': u.id, 'x-session-id': u.session },
        { name: `soak ${u.phone}`, n: n++ },
      );
      return expect(200)(r);
    },
    comment: async () => {
      const u = pick(users);
      const r = await call(
        'POST',
        `${u.router}/api/comments/${u.id}`,
        { 'x-user-id': u.id, 'x-session-id': u.session },
        { text: `soak comment ${n++}` },
      );
      return expect(201)(r);
    },
    'comment-read': async () => {
      const u = pick(users);
      return expect(200)(await call('GET', `${pick(routers)}/api/comments/${u.id}`, { 'x-user-id': u.id }));
    },
    // a new session each time (the old one stays until it expires, as real clients leave them)
    login: async () => {
      const u = pick(users);
      const r = await call('POST', `${u.router}/api/login`, {}, { phone: u.phone, password: u.password });
      const s = json(r.text).session;
      if (r.status === 200 && typeof s === 'string') u.session = s;
      return expect(200)(r);
    },
    register: async () => (await register(pick(routers))) !== undefined || 'registration or its login failed',
    dashboard: async () => expect(200)(await call('GET', `${o.control}${pick(PANELS)}`)),
  };

  const streams: Stream[] = Object.entries(RATES)
    .filter(([name]) => !o.only || o.only.includes(name))
    .map(([name, rate]) => ({
      stats: { name, rate: rate * o.scale, sent: 0, ok: 0, failed: 0, skipped: 0, lastFailure: '' },
      fire: fires[name as keyof typeof RATES],
      due: 0,
      inFlight: 0,
      maxInFlight: Math.max(4, Math.ceil(rate * o.scale)),
    }));
  const inFlight = new Set<Promise<void>>();
  let answeredCount = 0;
  const launch = (s: Stream) => {
    s.stats.sent++;
    s.inFlight++;
    const p = s
      .fire()
      .then(
        (ok) => {
          if (ok === true) s.stats.ok++;
          else {
            s.stats.failed++;
            s.stats.lastFailure = ok;
          }
        },
        (e: unknown) => {
          s.stats.failed++;
          s.stats.lastFailure = (e as Error).message ?? String(e);
        },
      )
      .finally(() => {
        s.inFlight--;
        answeredCount++;
        inFlight.delete(p);
      });
    inFlight.add(p);
  };
  const TICK_MS = 20;
  let last = performance.now();
  let paused = false;
  const ticker = setInterval(() => {
    const now = performance.now();
    const dt = (now - last) / 1000;
    last = now;
    if (paused) return;
    for (const s of streams) {
      // a stalled tick (GC, a busy machine) catches up at most one second
      s.due = Math.min(s.due + s.stats.rate * dt, Math.max(1, s.stats.rate));
      while (s.due >= 1) {
        s.due--;
        if (s.inFlight >= s.maxInFlight) s.stats.skipped++;
        else launch(s);
      }
    }
  }, TICK_MS);

  let lastCount = 0;
  let lastAt = performance.now();
  return {
    streams: () => streams.map((s) => ({ ...s.stats })),
    rate() {
      const now = performance.now();
      const r = ((answeredCount - lastCount) * 1000) / Math.max(1, now - lastAt);
      lastCount = answeredCount;
      lastAt = now;
      return r;
    },
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
    },
    async stop() {
      clearInterval(ticker);
      await Promise.allSettled([...inFlight]);
      udp.close();
      await agent.close();
    },
  };
}
