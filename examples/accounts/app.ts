/**
 * The accounts reference app (the lecture's account multi-active), one instance per zone:
 *  - registration is global: only the core zone writes an account (one phone number, one
 *    account: `ifVersion: 0`); other zones forward the request to the core zone;
 *  - login is multi-active: any zone checks the password against its replica, with a second
 *    read from the core zone when the replica has not caught up yet;
 *  - sessions are local: never replicated, the id names its zone (`<zone>.<random>`), other
 *    zones fetch them from that zone;
 *  - profiles are sharded by user id (the owner zone writes, every zone reads its copy);
 *  - comments on profiles use causal IDs, so a reply always sorts after its comment.
 * Behind the unit router it receives X-Multizone-Zone/-Shard/-Epoch.
 *
 * Zones call each other (global-write forwards, login second reads, session fetches) with
 * requests signed by the cluster secret (src/trust). `/internal/*` answers only those, and
 * never with password material: `POST /internal/accounts/verify` checks a password at the
 * core zone and says only `{ userId }`; `GET /internal/sessions/:id` says only `{ userId }`.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, request } from 'undici';
import type { Clock } from '../../src/core/clock.ts';
import { isPlatformError } from '../../src/core/errors.ts';
import { closeServer, listenOn } from '../../src/core/listen.ts';
import { fnv1a } from '../../src/core/random.ts';
import { CausalClock, CausalFeed, type CausalId, type FeedItem } from '../../src/replication/index.ts';
import { MemorySessionStore, type SessionStore, validSessionId } from '../../src/session/index.ts';
import { HEADERS } from '../../src/shardmap/index.ts';
import type { Store } from '../../src/store/index.ts';
import type { Topology } from '../../src/topology/index.ts';
import { INTERNAL_SEGMENT, isInternalPath, type RequestSigner, trustErrors } from '../../src/trust/index.ts';

export interface AccountsAppOptions {
  zone: string;
  topology: Topology;
  /** This zone's store (writes wake replication when it comes from the data part). */
  store: Store;
  /** Base URL (`http://host:port`) of another zone's accounts app, if reachable. */
  peer(zone: string): string | undefined;
  /**
   * Who writes global resources now, at which epoch: the shard map's global owner (it moves
   * when the core zone fails). Default: the topology's core zone at epoch 0 (no fencing).
   */
  globalOwner?(): { zone: string; epoch: number };
  /** The current epoch of a shard, for requests that did not come through the router. */
  epochOf?(shard: number): number;
  clock: Clock;
  host: string;
  port: number;
  /**
   * Where this zone keeps its sessions (the topology's session: section; Redis in
   * distributed mode). Default: in this process. The caller closes it.
   */
  sessions?: SessionStore;
  /** scrypt cost (N); lower it in tests. */
  scryptN?: number;
  /** Signs this zone's calls to other zones and verifies theirs (the cluster secret). */
  signer: RequestSigner;
  /** Called with every error answered as 500 ERR_ACCOUNTS_INTERNAL (the body hides it). */
  onError?(e: unknown, route: string): void;
}

export interface AccountsApp {
  server: Server;
  host: string;
  port: number;
  close(): Promise<void>;
}

interface Account {
  userId: string;
  phone: string;
  name: string;
  salt: string;
  hash: string;
}

interface Comment {
  id: CausalId;
  parent?: CausalId;
  text: string;
  author: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Store error codes → HTTP status (the router's mapping: not ours → 421, stale/locked → 409). */
function statusOf(code: string): number {
  if (code === 'ERR_STORE_NOT_OWNER') return 421;
  // the global writer is moving (drained, or the map moved it since the request was routed): retry soon
  if (code === 'ERR_STORE_NOT_CORE') return 503;
  // our shard, but the lease lapsed (cut off from the control Kv) or it is moving: retry soon
  if (code === 'ERR_STORE_FENCED') return 503;
  if (code === 'ERR_STORE_STALE_EPOCH' || code === 'ERR_STORE_LOCKED' || code === 'ERR_STORE_VERSION_MISMATCH')
    return 409;
  if (code === 'ERR_STORE_TOO_LARGE') return 413;
  // the zone's store (PostgreSQL) is unreachable: nothing was written; retry
  if (code === 'ERR_STORE_UNAVAILABLE') return 503;
  if (code === 'ERR_SESSION_UNAVAILABLE') return 503; // the zone's session store (Redis) is down: retry, or log in elsewhere
  return 400;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 64 * 1024) throw new HttpError(413, 'ERR_ACCOUNTS_TOO_LARGE', 'body over 64 KiB');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(raw: Buffer): Record<string, unknown> {
  const text = raw.toString('utf8');
  if (!text) return {};
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {}
  throw new HttpError(400, 'ERR_ACCOUNTS_BAD_JSON', 'body must be a JSON object');
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return parseJson(await readRaw(req));
}

/** How long a session lookup in another zone may take before the session counts as gone (401: log in again). */
const SESSION_FETCH_TIMEOUT_MS = 1000;

const str = (v: unknown, what: string, re: RegExp): string => {
  if (typeof v !== 'string' || !re.test(v)) throw new HttpError(400, 'ERR_ACCOUNTS_BAD_INPUT', `bad ${what}`);
  return v;
};

/** Comment keys sort by profile, then by causal counter (zero-padded), then zone. */
/**
 * A reply's parent: the comment's id as the API returns it (`{"n":1,"zone":"bj-a"}`) or in
 * its short form (`"1.bj-a"`); anything else is a 400 naming both forms, not a 404 that
 * suggests waiting for replication.
 */
function parentId(v: unknown): CausalId {
  let n: unknown;
  let zone: unknown;
  if (typeof v === 'string') {
    const m = /^(\d{1,15})\.([a-z0-9][a-z0-9-]{0,62})$/.exec(v);
    if (m) [n, zone] = [Number(m[1]), m[2]];
  } else if (v && typeof v === 'object') ({ n, zone } = v as { n?: unknown; zone?: unknown });
  if (
    !Number.isSafeInteger(n) ||
    (n as number) < 1 ||
    typeof zone !== 'string' ||
    !/^[a-z0-9][a-z0-9-]{0,62}$/.test(zone)
  )
    throw new HttpError(
      400,
      'ERR_ACCOUNTS_BAD_PARENT',
      'parent must be a comment id as the API returns it, {"n":1,"zone":"bj-a"}, or "1.bj-a"',
    );
  return { n: n as number, zone };
}

/** The public routes and the methods each takes (OPTIONS answers with them, others get 405). */
const API_METHODS: Record<string, readonly string[]> = {
  '/api/register': ['POST'],
  '/api/login': ['POST'],
  '/api/sessions': ['GET'],
  '/api/profiles': ['GET', 'PUT'],
  '/api/comments': ['GET', 'POST'],
};

const commentKey = (userId: string, id: CausalId) => `${userId}/${String(id.n).padStart(12, '0')}.${id.zone}`;

export async function startAccountsApp(opts: AccountsAppOptions): Promise<AccountsApp> {
  const { zone, topology, store } = opts;
  const sessions = opts.sessions ?? new MemorySessionStore(opts.clock);
  // every authenticated request slides the session's expiry
  const sessionTtlMs = topology.config.session.ttlSeconds * 1000;
  // the global writer follows the shard map: when the core zone fails, its backup writes accounts
  const core = () => opts.globalOwner?.().zone ?? topology.coreZone;
  const count = topology.config.shards.count;
  const shardOf = (key: string) => fnv1a(key) % count;
  const causal = new CausalClock(zone);
  const N = opts.scryptN ?? 16384;
  // on libuv's thread pool: a login or registration never blocks the event loop (every zone shares it in embedded mode)
  const hashOf = (password: string, salt: string) =>
    new Promise<string>((ok, fail) =>
      scrypt(password, salt, 32, { N }, (e, key) => (e ? fail(e) : ok(key.toString('hex')))),
    );

  /**
   * Shard and epoch of a record keyed by `key` (a user id): the shard is always the key's;
   * the router's epoch is used when it routed by the same shard, else the current one.
   */
  const routed = (req: IncomingMessage, key: string): { shard: number; epoch: number } => {
    const shard = shardOf(key);
    const h = req.headers[HEADERS.shard];
    const e = req.headers[HEADERS.epoch];
    if (h === String(shard) && typeof e === 'string' && /^\d+$/.test(e)) return { shard, epoch: Number(e) };
    return { shard, epoch: opts.epochOf?.(shard) ?? 1 };
  };

  const callPeer = async (
    z: string,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    dispatcher?: Agent,
  ): Promise<{ status: number; json: unknown }> => {
    const base = opts.peer(z);
    if (!base) throw new HttpError(502, 'ERR_ACCOUNTS_PEER_UNKNOWN', `no address for zone ${z}`);
    let r: Awaited<ReturnType<typeof request>>;
    const text = body === undefined ? undefined : JSON.stringify(body);
    try {
      r = await request(`${base}${path}`, {
        method,
        // signed: the other zone's internal routes answer only zones of this cluster
        headers: opts.signer.signHeaders(
          method,
          path,
          { 'content-type': 'application/json', [HEADERS.from]: zone },
          text,
        ),
        body: text,
        ...(dispatcher ? { dispatcher } : {}),
      });
    } catch (e) {
      // the zone is down (the global writer died and failover has not moved its role yet): retry soon
      throw new HttpError(503, 'ERR_ACCOUNTS_PEER_UNAVAILABLE', `zone ${z} cannot be reached: ${(e as Error).message}`);
    }
    const answer = await r.body.text();
    return { status: r.statusCode, json: answer ? JSON.parse(answer) : null };
  };

  // connecting is bounded too: undici's abort does not cut a connect short (10 s by default)
  const sessionPeers = new Agent({
    connect: { timeout: SESSION_FETCH_TIMEOUT_MS },
    headersTimeout: SESSION_FETCH_TIMEOUT_MS,
    bodyTimeout: SESSION_FETCH_TIMEOUT_MS,
  });

  /** A session by id: local if it names this zone, else fetched from the zone it names (within SESSION_FETCH_TIMEOUT_MS). */
  const session = async (sid: string): Promise<{ userId: string } | undefined> => {
    const owner = sid.slice(0, sid.indexOf('.'));
    if (!owner || !validSessionId(sid)) return undefined;
    if (owner === zone) return (await sessions.get(sid, { slideMs: sessionTtlMs })) as { userId: string } | undefined;
    if (!topology.hasZone(owner)) return undefined;
    try {
      // bounded: a zone cut off (not refusing, just silent) would otherwise hold the request
      // until the router in front gives up with a 504, and the client would never log in again
      const r = await callPeer(owner, 'GET', `/internal/sessions/${encodeURIComponent(sid)}`, undefined, sessionPeers);
      const userId = (r.json as { userId?: unknown } | null)?.userId;
      return r.status === 200 && typeof userId === 'string' ? { userId } : undefined;
    } catch {
      // the session's zone is down: sessions are local and regenerable, so "log in again" (401)
      return undefined;
    }
  };

  const sessionOf = (req: IncomingMessage): string | undefined => {
    const h = req.headers['x-session-id'];
    if (typeof h === 'string') return h;
    const m = /(?:^|;\s*)mz_sid=([^;]+)/.exec(req.headers.cookie ?? '');
    return m?.[1];
  };

  const requireUser = async (req: IncomingMessage): Promise<string> => {
    const sid = sessionOf(req);
    const s = sid ? await session(sid) : undefined;
    if (!s) throw new HttpError(401, 'ERR_ACCOUNTS_NO_SESSION', 'log in first');
    return s.userId;
  };

  const comments = async (userId: string): Promise<Comment[]> => {
    const rows = await store.list('comments', `${userId}/`, 10_000);
    return rows.map((r) => r.value as Comment);
  };

  /** A password check against an account record (scrypt on the thread pool, constant-time compare). */
  const passwordOk = async (account: Account | undefined, password: string): Promise<boolean> =>
    account !== undefined &&
    timingSafeEqual(Buffer.from(await hashOf(password, account.salt), 'hex'), Buffer.from(account.hash, 'hex'));

  /** Zone-to-zone routes; the caller has checked the signature. Answers never carry salts or hashes. */
  async function internal(
    req: IncomingMessage,
    res: ServerResponse,
    route: string,
    arg: string | undefined,
    raw: Buffer,
  ) {
    if (route === 'POST /internal/accounts' && arg === 'verify') {
      const body = parseJson(raw);
      const phone = str(body.phone, 'phone', /^\+?\d{6,15}$/);
      const password = str(body.password, 'password', /^.{1,200}$/);
      const account = (await store.get('accounts', phone))?.value as Account | undefined;
      if (!account || !(await passwordOk(account, password)))
        return send(res, 401, { error: 'ERR_ACCOUNTS_BAD_LOGIN', message: 'wrong phone number or password' });
      return send(res, 200, { userId: account.userId });
    }
    if (route === 'GET /internal/sessions' && arg) {
      // only sessions of this zone: a zone never asks a third one on someone's behalf
      if (!arg.startsWith(`${zone}.`) || !validSessionId(arg))
        return send(res, 404, { error: 'ERR_ACCOUNTS_NO_SESSION' });
      const s = (await sessions.get(arg, { slideMs: sessionTtlMs })) as { userId?: unknown } | undefined;
      return typeof s?.userId === 'string'
        ? send(res, 200, { userId: s.userId })
        : send(res, 404, { error: 'ERR_ACCOUNTS_NO_SESSION' });
    }
    send(res, 404, { error: 'ERR_ACCOUNTS_NO_ROUTE', message: `no route ${req.method} ${req.url}` });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const route = `${req.method} /${parts.slice(0, 2).join('/')}`;
    const arg = parts[2];

    // zone-to-zone only: anything under /internal (however spelled) needs a zone's signature
    if (isInternalPath(req.url ?? '/') || parts[0]?.toLowerCase() === INTERNAL_SEGMENT) {
      const raw = await readRaw(req);
      const v = opts.signer.check({
        method: req.method ?? 'GET',
        target: req.url ?? '/',
        headers: req.headers,
        body: raw,
      });
      if (typeof v === 'string')
        return send(res, 401, {
          error: trustErrors.ERR_TRUST_BAD_SIGNATURE.code,
          message: 'internal routes answer zones of this cluster only',
          reason: v,
        });
      return internal(req, res, route, arg, raw);
    }

    // OPTIONS on a known route says what it takes; a known route with another method is 405
    const base = `/${parts.slice(0, 2).join('/')}`;
    const allow = API_METHODS[base];
    if (allow && req.method === 'OPTIONS') {
      res.writeHead(204, { allow: [...allow, 'OPTIONS'].join(', '), 'content-length': 0 });
      res.end();
      return;
    }

    if (route === 'POST /api/register') {
      const body = await readJson(req);
      const writer = core();
      if (zone !== writer) {
        // global write: only the global writer writes accounts (the router forwards too; this covers direct calls)
        const r = await callPeer(writer, 'POST', '/api/register', body);
        return send(res, r.status, r.json, { 'x-accounts-written-in': writer });
      }
      const phone = str(body.phone, 'phone', /^\+?\d{6,15}$/);
      const password = str(body.password, 'password', /^.{6,200}$/);
      const name = typeof body.name === 'string' ? body.name.slice(0, 100) : '';
      const salt = randomBytes(16).toString('hex');
      const account: Account = {
        userId: `u${randomBytes(6).toString('hex')}`,
        phone,
        name,
        salt,
        hash: await hashOf(password, salt),
      };
      try {
        await store.put({
          resource: 'accounts',
          key: phone,
          shard: shardOf(phone),
          epoch: opts.globalOwner?.().epoch ?? 0,
          value: account,
          ifVersion: 0,
        });
      } catch (e) {
        if (isPlatformError(e) && e.code === 'ERR_STORE_VERSION_MISMATCH')
          throw new HttpError(409, 'ERR_ACCOUNTS_PHONE_TAKEN', 'this phone number already has an account');
        throw e;
      }
      return send(res, 201, { userId: account.userId, phone, name, zone }, { 'x-accounts-written-in': zone });
    }

    if (route === 'POST /api/login') {
      const body = await readJson(req);
      const phone = str(body.phone, 'phone', /^\+?\d{6,15}$/);
      const password = str(body.password, 'password', /^.{1,200}$/);
      const account = (await store.get('accounts', phone))?.value as Account | undefined;
      let secondRead = false;
      let userId: string | undefined;
      if (!account && zone !== core()) {
        // the replica may not have caught up with a fresh registration: ask the global writer once
        // the core zone checks the password; it answers only the user id (never the salt or hash)
        const r = await callPeer(core(), 'POST', '/internal/accounts/verify', { phone, password });
        const id = (r.json as { userId?: unknown } | null)?.userId;
        if (r.status === 200 && typeof id === 'string') {
          userId = id;
          secondRead = true;
        }
      }
      if (account && (await passwordOk(account, password))) userId = account.userId;
      if (!userId) throw new HttpError(401, 'ERR_ACCOUNTS_BAD_LOGIN', 'wrong phone number or password');
      const sid = `${zone}.${randomBytes(18).toString('base64url')}`;
      await sessions.put(sid, { userId, phone, at: opts.clock.wallTime() }, sessionTtlMs);
      return send(
        res,
        200,
        { session: sid, userId, zone, secondRead },
        { 'set-cookie': `mz_sid=${sid}; Path=/; HttpOnly; SameSite=Lax` },
      );
    }

    if (route === 'GET /api/sessions' && arg) {
      const s = await session(arg);
      return s ? send(res, 200, s) : send(res, 404, { error: 'ERR_ACCOUNTS_NO_SESSION' });
    }

    if (route === 'GET /api/profiles' && arg) {
      const p = await store.get('profiles', arg);
      if (!p) return send(res, 404, { error: 'ERR_ACCOUNTS_NOT_FOUND' }); // the router second-reads the owner
      return send(res, 200, {
        userId: arg,
        profile: p.value,
        version: p.version,
        vv: p.vv,
        locked: p.locked,
        origin: p.origin,
        // a locked record's concurrent versions, so a client (the drill) can find its write among them
        ...(p.locked ? { candidates: p.candidates.map((c) => ({ origin: c.origin, vv: c.vv, value: c.value })) } : {}),
        zone,
      });
    }

    if (route === 'PUT /api/profiles' && arg) {
      const me = await requireUser(req);
      if (me !== arg) throw new HttpError(403, 'ERR_ACCOUNTS_FORBIDDEN', 'you can only change your own profile');
      const body = await readJson(req);
      const { shard, epoch } = routed(req, arg);
      const w = await store.put({ resource: 'profiles', key: arg, shard, epoch, value: body });
      return send(res, 200, { userId: arg, version: w.version, vv: w.vv, zone });
    }

    if (route === 'GET /api/comments' && arg) {
      const feed = new CausalFeed(zone, 0);
      const list = await comments(arg);
      feed.receive(list.map((c): FeedItem => ({ id: c.id, ...(c.parent ? { parent: c.parent } : {}), body: c })));
      return send(res, 200, { userId: arg, comments: feed.visible().map((it) => it.body), zone });
    }

    if (route === 'POST /api/comments' && arg) {
      const author = await requireUser(req);
      const body = await readJson(req);
      const text = str(body.text, 'text', /^[\s\S]{1,2000}$/);
      const list = await comments(arg);
      // the Moments rule: the new ID is above every ID this zone has seen on this thread
      for (const c of list) causal.observe(c.id);
      let parent: CausalId | undefined;
      if (body.parent !== undefined) {
        const p = parentId(body.parent);
        if (!list.some((c) => c.id.n === p.n && c.id.zone === p.zone))
          throw new HttpError(404, 'ERR_ACCOUNTS_NO_PARENT', 'the comment you reply to is not here (yet)');
        parent = { n: p.n, zone: p.zone };
      }
      const id = causal.next();
      const c: Comment = { id, ...(parent ? { parent } : {}), text, author };
      const { shard, epoch } = routed(req, arg);
      await store.put({ resource: 'comments', key: commentKey(arg, id), shard, epoch, value: c });
      return send(res, 201, c);
    }

    if (allow && !allow.includes(req.method ?? ''))
      return send(
        res,
        405,
        { error: 'ERR_ACCOUNTS_METHOD', message: `${base} takes ${allow.join(', ')}, not ${req.method}` },
        { allow: [...allow, 'OPTIONS'].join(', ') },
      );
    send(res, 404, { error: 'ERR_ACCOUNTS_NO_ROUTE', message: `no route ${req.method} ${url.pathname}` });
  }

  const server = createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://app');
    } catch {
      return send(res, 400, { error: 'ERR_ACCOUNTS_BAD_REQUEST' });
    }
    handle(req, res, url).catch((e) => {
      if (res.headersSent) return res.destroy();
      // a 503 is worth retrying in a moment: say when (a failover moves a role within seconds)
      const retry = (status: number) => (status === 503 ? { 'retry-after': '1' } : undefined);
      if (e instanceof HttpError) return send(res, e.status, { error: e.code, message: e.message }, retry(e.status));
      if (isPlatformError(e)) {
        const status = statusOf(e.code);
        return send(res, status, { error: e.code, message: e.message }, retry(status));
      }
      opts.onError?.(e, `${req.method} ${url.pathname}`);
      send(res, 500, { error: 'ERR_ACCOUNTS_INTERNAL', message: 'internal error' });
    });
  });
  const a = await listenOn(server, opts.host, opts.port, `${zone} accounts app`);
  return {
    server,
    host: a.host,
    port: a.port,
    close: async () => {
      await closeServer(server);
      await sessionPeers.close().catch(() => {});
    },
  };
}
