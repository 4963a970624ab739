/**
 * The delivery reference service: a food-delivery shop as an ordinary HTTP service (node:http,
 * `pg`, `ioredis`; nothing of multizone imported) behind multizone's router as an external app
 * (docs/app-contract.md), with its own PostgreSQL database per zone whose tables multizone's
 * table replication copies between zones (docs/tables.md). See README.md for the routes.
 *
 * Configured by environment variables (a missing or bad one stops startup, exit 78):
 *   DELIVERY_ZONE, DELIVERY_PORT, DELIVERY_KEY_FILE, DELIVERY_PG, DELIVERY_ROUTER (this zone's router)
 *   DELIVERY_HOST (127.0.0.1)  DELIVERY_REDIS (redis://127.0.0.1:6379)  DELIVERY_REDIS_PREFIX (delivery)
 *   DELIVERY_QUOTA: JSON of QuotaPolicy fields overriding the defaults below
 *   DELIVERY_MARK_SECONDS (10): how long a remote marker lives
 *   DELIVERY_EDGE, DELIVERY_EDGE_TOKEN: this zone's edge and its admin token, to purge menus there
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import pg from 'pg';
import { isOrderAction, nextState, type OrderState, statesFrom } from './order-state.ts';
import { type CoreBook, type CoreLease, checkPolicy, grant, type LeaseReturn, type QuotaPolicy } from './quota.ts';
import { DELIVERY_DDL } from './schema.ts';

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] || fallback;
  if (v === undefined) {
    console.error(`delivery: set ${name}`);
    process.exit(78);
  }
  return v;
};

const zone = env('DELIVERY_ZONE');
const port = Number(env('DELIVERY_PORT'));
const host = env('DELIVERY_HOST', '127.0.0.1');
const key = Buffer.from(readFileSync(env('DELIVERY_KEY_FILE'), 'utf8').trim(), 'hex');
const router = env('DELIVERY_ROUTER').replace(/\/$/, '');
const prefix = `${env('DELIVERY_REDIS_PREFIX', 'delivery')}:${zone}`;
const markSeconds = Number(env('DELIVERY_MARK_SECONDS', '10'));
const edge = process.env.DELIVERY_EDGE?.replace(/\/$/, '');
const edgeToken = process.env.DELIVERY_EDGE_TOKEN ?? '';
/** Menus stay in the Redis cache this long at most; a change evicts them at once (below). */
const MENU_TTL_S = 3600;
let policy: QuotaPolicy;
try {
  policy = checkPolicy({
    batchFraction: 0.05,
    minBatch: 2,
    lowWater: 2,
    leaseMs: 30_000,
    skewMs: 200,
    graceMs: 30_000,
    ...JSON.parse(process.env.DELIVERY_QUOTA || '{}'),
  });
} catch (e) {
  console.error(`delivery: DELIVERY_QUOTA: ${(e as Error).message}`);
  process.exit(78);
}
const SKEW_MS = 30_000;

/**
 * Creates this zone's database when it does not exist yet (SQLSTATE 3D000), through the
 * server's `postgres` database: a first start needs no setup step.
 */
async function ensureDatabase(url: string): Promise<void> {
  const probe = new pg.Client({ connectionString: url });
  try {
    await probe.connect();
    return;
  } catch (e) {
    if ((e as { code?: string }).code !== '3D000') throw e;
  } finally {
    await probe.end().catch(() => {});
  }
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  u.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: u.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    console.log(`delivery: created the database ${name}`);
  } catch (e) {
    if ((e as { code?: string }).code !== '42P04') throw e; // made meanwhile by another start
  } finally {
    await admin.end().catch(() => {});
  }
}
await ensureDatabase(env('DELIVERY_PG'));

const pool = new pg.Pool({ connectionString: env('DELIVERY_PG'), max: 10 });
pool.on('error', () => {});
const redis = new Redis(env('DELIVERY_REDIS', 'redis://127.0.0.1:6379'), { maxRetriesPerRequest: 2 });
redis.on('error', () => {});

// the tables, created at startup in every zone alike (table replication refuses tables that differ)
await pool.query(DELIVERY_DDL);

// ---------------------------------------------------------------- menus: cache refresh from the WAL

const menuKey = (restaurant: string) => `${prefix}:menu:${restaurant}`;

/**
 * Bilibili's binlog cache refresh: a menu is written only by the global writer and read from
 * a Redis cache in every zone. The eviction does not ride the write's code path (which runs
 * in the core zone only): the `menus` trigger, ENABLE ALWAYS, fires when this zone's database
 * applies the change table replication decoded from the writer's WAL, and notifies
 * `delivery_menus`; this listener evicts the cached menu and purges it from the zone's edge
 * by its surrogate key. A notification missed while not listening is covered by dropping the
 * whole menu cache on every (re)connect.
 */
async function listenForMenus(): Promise<void> {
  for (;;) {
    const c = new pg.Client({ connectionString: env('DELIVERY_PG') });
    const closed = new Promise<void>((resolve) => {
      c.on('error', () => resolve());
      c.on('end', () => resolve());
    });
    try {
      await c.connect();
      c.on('notification', (n) => {
        if (n.channel === 'delivery_menus' && n.payload) evictMenu(n.payload).catch(() => {});
      });
      await c.query('LISTEN delivery_menus');
      const stale = await redis.keys(`${prefix}:menu:*`);
      if (stale.length) await redis.del(...stale);
      await closed;
    } catch {
      // the database is away: try again below
    }
    await c.end().catch(() => {});
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function evictMenu(restaurant: string): Promise<void> {
  await redis.del(menuKey(restaurant));
  if (!edge) return;
  await fetch(`${edge}/.mz/purge`, {
    method: 'POST',
    headers: { authorization: `Bearer ${edgeToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tags: [`menu-${restaurant}`] }),
    signal: AbortSignal.timeout(3000),
  }).then((r) => r.body?.cancel());
}
void listenForMenus();

// ---------------------------------------------------------------- the zone's quota in Redis

/**
 * The zone's leases of a dish live in one Redis hash (`<prefix>:leases:<dish>`, lease id →
 * "amount,used,sellUntil"); every process of the zone sells from it. The scripts are
 * quota.ts's `trySell` and `splitReturns`, atomic in Redis, judged by Redis's own clock.
 */
const SELL = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local qty = tonumber(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local chosen = nil
local left = 0
for i = 1, #all, 2 do
  local a, u, s = string.match(all[i + 1], '^(%d+),(%d+),(%d+)$')
  a = tonumber(a); u = tonumber(u); s = tonumber(s)
  if now < s then
    if chosen == nil and u + qty <= a then
      chosen = all[i]
      u = u + qty
      redis.call('HSET', KEYS[1], all[i], a .. ',' .. u .. ',' .. s)
    end
    left = left + a - u
  end
end
return { chosen or false, left }`;
const RETURNS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local a, u, s = string.match(all[i + 1], '^(%d+),(%d+),(%d+)$')
  if now >= tonumber(s) or tonumber(u) >= tonumber(a) then
    redis.call('HDEL', KEYS[1], all[i])
    table.insert(out, all[i]); table.insert(out, u)
  end
end
return { now, out }`;
const leasesKey = (dish: string) => `${prefix}:leases:${dish}`;

async function sellLocal(dish: string, qty: number): Promise<{ lease: string | null; left: number }> {
  const [lease, left] = (await redis.eval(SELL, 1, leasesKey(dish), qty)) as [string | null, number];
  return { lease: lease || null, left };
}

type Fetch = { ok: true; amount: number } | { ok: false; code: string; retryAfterMs: number };
/** One batch request per dish at a time in this process. */
const fetching = new Map<string, Promise<Fetch>>();

/** Asks the core zone (through this zone's router: a global write) for the next batch of `dish`. */
function fetchBatch(dish: string): Promise<Fetch> {
  let p = fetching.get(dish);
  if (!p) {
    p = (async (): Promise<Fetch> => {
      // the leases this zone can no longer sell from go back with the request
      const [sentAt, flat] = (await redis.eval(RETURNS, 1, leasesKey(dish))) as [number, string[]];
      const returns: LeaseReturn[] = [];
      for (let i = 0; i < flat.length; i += 2) returns.push({ id: flat[i]!, used: Number(flat[i + 1]) });
      const id = `${zone}.${randomBytes(6).toString('hex')}`;
      let res: Response;
      try {
        res = await fetch(`${router}/api/quota/${encodeURIComponent(dish)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ zone, id, returns }),
          signal: AbortSignal.timeout(5000),
        });
      } catch {
        return { ok: false, code: 'ERR_DELIVERY_CORE_UNREACHABLE', retryAfterMs: 1000 };
      }
      const body = (await res.json().catch(() => ({}))) as {
        amount?: number;
        code?: string;
        error?: string;
        retryAfterMs?: number;
      };
      if (res.status !== 200 || typeof body.amount !== 'number')
        return {
          ok: false,
          code: body.code ?? body.error ?? `HTTP_${res.status}`,
          retryAfterMs: body.retryAfterMs ?? 1000,
        };
      // the zone sells until its own clock at the request + leaseMs − skewMs: the core granted later
      const until = sentAt + policy.leaseMs - policy.skewMs;
      await redis.hset(leasesKey(dish), id, `${body.amount},0,${until}`);
      return { ok: true, amount: body.amount };
    })().finally(() => fetching.delete(dish));
    fetching.set(dish, p);
  }
  return p;
}

// ---------------------------------------------------------------- the core zone's book

/**
 * The core's side of a batch request, in one transaction: the dish row locked (one grant at
 * a time per dish), the book read, quota.ts's `grant`, the new lease and returns written.
 * Sales known = orders under each lease in this zone's replica (table replication).
 */
async function coreGrant(
  dish: string,
  req: { zone: string; id: string; returns: LeaseReturn[] },
  globalEpoch: number,
): Promise<{ status: number; body: object }> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const d = await c.query('SELECT stock FROM dishes WHERE id = $1 FOR UPDATE', [dish]);
    if (!d.rows[0]) {
      await c.query('ROLLBACK');
      return { status: 404, body: { code: 'ERR_DELIVERY_NO_DISH', dish } };
    }
    const now = Date.now();
    // a core that takes the role over (a global epoch it has not held) may lack the old core's
    // last grants: it grants nothing until every lease the old one could have granted is over
    const fence = await c.query(
      `INSERT INTO quota_epochs (epoch, fence_until) VALUES ($1, $2) ON CONFLICT (epoch) DO UPDATE SET epoch = EXCLUDED.epoch
       RETURNING fence_until`,
      [globalEpoch, globalEpoch <= 1 ? 0 : now + policy.leaseMs + policy.graceMs],
    );
    const leases = await c.query(
      'SELECT id, zone, amount, ends_at::float8 AS end, returned_used FROM quota_leases WHERE dish = $1',
      [dish],
    );
    const sold = await c.query('SELECT lease, sum(qty)::int AS n FROM orders WHERE dish = $1 GROUP BY lease', [dish]);
    const book: CoreBook = {
      stock: d.rows[0].stock,
      fenceUntil: Number(fence.rows[0].fence_until),
      leases: leases.rows.map(
        (r): CoreLease => ({
          id: r.id,
          zone: r.zone,
          amount: r.amount,
          end: r.end,
          ...(r.returned_used === null ? {} : { returnedUsed: r.returned_used }),
        }),
      ),
    };
    const known = new Map<string, number>(sold.rows.map((r) => [r.lease, r.n]));
    const res = grant(book, req, now, known, policy);
    for (const l of res.book?.leases ?? [])
      if (l.returnedUsed !== undefined && book.leases.find((b) => b.id === l.id)?.returnedUsed === undefined)
        await c.query('UPDATE quota_leases SET returned_used = $2 WHERE id = $1', [l.id, l.returnedUsed]);
    if (res.ok)
      await c.query('INSERT INTO quota_leases (id, dish, zone, amount, ends_at) VALUES ($1, $2, $3, $4, $5)', [
        res.lease.id,
        dish,
        res.lease.zone,
        res.lease.amount,
        res.lease.end,
      ]);
    await c.query('COMMIT');
    if (res.ok) return { status: 200, body: { id: res.lease.id, amount: res.lease.amount, leaseMs: policy.leaseMs } };
    return {
      status: res.code === 'ERR_QUOTA_FENCED' ? 503 : 409,
      body: { code: res.code, retryAfterMs: res.retryAfterMs },
    };
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}

// ---------------------------------------------------------------- HTTP

/** The router's signature (x-multizone-auth), checked as docs/app-contract.md says; the signing zone or null. */
const nonces = new Map<string, number>();
function verify(req: IncomingMessage, body: Buffer): string | null {
  const m = /^v1 z=(\S+) t=(\d+) n=([0-9a-f]{32}) s=([0-9a-f]{64})$/.exec(
    String(req.headers['x-multizone-auth'] ?? ''),
  );
  if (!m) return null;
  const [, z, t, n, s] = m as unknown as [string, string, string, string, string];
  const now = Date.now();
  if (Math.abs(now - Number(t)) > SKEW_MS) return null;
  const lines = Object.keys(req.headers)
    .filter((k) => k.startsWith('x-multizone-') && k !== 'x-multizone-auth')
    .sort()
    .map((k) => `${k}:${req.headers[k]}\n`)
    .join('');
  const mac = createHmac('sha256', key)
    .update(`MZ-AUTH-1\n${req.method}\n${req.url}\n${z}\n${t}\n${n}\n${lines}`)
    .update(createHash('sha256').update(body).digest('hex'))
    .digest();
  if (!timingSafeEqual(mac, Buffer.from(s, 'hex'))) return null;
  for (const [k, until] of nonces) if (until < now) nonces.delete(k);
  if (nonces.has(n)) return null;
  nonces.set(n, Number(t) + SKEW_MS);
  return z;
}

function send(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-delivery-zone': zone,
    ...headers,
  });
  res.end(text);
}
const fail = (res: ServerResponse, status: number, code: string, details: object = {}, headers = {}) =>
  send(res, status, { code, ...details }, headers);

function json(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
const ID = /^[A-Za-z0-9._-]{1,64}$/;

interface Order {
  id: string;
  shard: number;
  epoch: number;
  zone: string;
  user_id: string;
  restaurant: string;
  dish: string;
  qty: number;
  lease: string;
  state: OrderState;
  version: number;
  updated_at: string;
}
const view = (o: Order) => ({
  id: o.id,
  user: o.user_id,
  restaurant: o.restaurant,
  dish: o.dish,
  qty: o.qty,
  state: o.state,
  version: o.version,
  zone: o.zone,
  shard: o.shard,
  epoch: o.epoch,
});

/** The remote marker set on a write's answer: this zone wrote this version (see myOrders). */
const marker = (o: Order) => ({
  'set-cookie': `mz_mark=${zone}.${o.id}.${o.version}; Max-Age=${markSeconds}; Path=/api/my-orders; HttpOnly`,
});

/** A write of a shard this zone does not own, or by an older epoch than the order has: 421 (the router looks again). */
function misdirected(req: IncomingMessage, res: ServerResponse, known?: number): boolean {
  if (req.headers['x-multizone-owner'] !== zone) {
    fail(res, 421, 'ERR_DELIVERY_NOT_MINE', { owner: req.headers['x-multizone-owner'] ?? null });
    return true;
  }
  if (known !== undefined && Number(req.headers['x-multizone-epoch']) < known) {
    fail(res, 421, 'ERR_DELIVERY_STALE_EPOCH', { epoch: known }, { 'x-multizone-epoch': String(known) });
    return true;
  }
  return false;
}

async function placeOrder(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
  const shard = req.headers['x-multizone-shard'];
  // the router found the restaurant's geo-fence from x-geo: no fence, no zone to own the order
  if (shard === undefined || !/^\d+$/.test(String(shard)))
    return fail(res, 400, 'ERR_DELIVERY_OUTSIDE_FENCE', { hint: 'send the restaurant location as x-geo: lat,lng' });
  if (misdirected(req, res)) return;
  const b = json(body);
  const user = b?.user;
  const restaurant = b?.restaurant;
  const dish = b?.dish;
  const qty = b?.qty ?? 1;
  if (
    typeof user !== 'string' ||
    !ID.test(user) ||
    typeof restaurant !== 'string' ||
    !ID.test(restaurant) ||
    typeof dish !== 'string' ||
    !ID.test(dish) ||
    !Number.isInteger(qty) ||
    (qty as number) < 1 ||
    (qty as number) > 20
  )
    return fail(res, 400, 'ERR_DELIVERY_BAD_ORDER', { want: '{user, restaurant, dish, qty: 1..20}' });
  const n = qty as number;
  let sale = await sellLocal(dish, n);
  if (!sale.lease) {
    // no local quota: ask the core zone once, then try again
    const f = await fetchBatch(dish);
    if (!f.ok) {
      if (f.code === 'ERR_QUOTA_SOLD_OUT' || f.code === 'ERR_DELIVERY_NO_DISH')
        return fail(res, 409, 'ERR_DELIVERY_SOLD_OUT', { dish, retryAfterMs: f.retryAfterMs });
      return fail(
        res,
        503,
        'ERR_DELIVERY_QUOTA_PENDING',
        { dish, why: f.code },
        {
          'retry-after': String(Math.max(1, Math.ceil(f.retryAfterMs / 1000))),
        },
      );
    }
    sale = await sellLocal(dish, n);
    if (!sale.lease) return fail(res, 409, 'ERR_DELIVERY_SOLD_OUT', { dish, retryAfterMs: 0 });
  }
  // at the low-water mark, the next batch is fetched in the background
  if (sale.left <= policy.lowWater) fetchBatch(dish).catch(() => {});
  const id = `o${shard}-${randomBytes(8).toString('hex')}`;
  const epoch = Number(req.headers['x-multizone-epoch'] ?? 0);
  // a unit taken from the quota whose insert fails is not sold: stock is lost, never oversold
  const r = await pool.query<Order>(
    `INSERT INTO orders (id, shard, epoch, zone, user_id, restaurant, dish, qty, lease, state, version, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'placed', 1, $10) RETURNING *`,
    [id, Number(shard), epoch, zone, user, restaurant, dish, n, sale.lease, Date.now()],
  );
  const o = r.rows[0]!;
  return send(res, 201, view(o), marker(o));
}

async function transition(req: IncomingMessage, res: ServerResponse, id: string, action: string): Promise<void> {
  if (!isOrderAction(action)) return fail(res, 404, 'ERR_DELIVERY_NO_ROUTE');
  const v = String(req.headers['if-match'] ?? '').replace(/"/g, '');
  if (!/^\d+$/.test(v)) return fail(res, 428, 'ERR_DELIVERY_VERSION_REQUIRED', { hint: 'send If-Match: <version>' });
  const have = (await pool.query<Order>('SELECT * FROM orders WHERE id = $1', [id])).rows[0];
  if (misdirected(req, res, have?.epoch)) return;
  if (!have) return fail(res, 404, 'ERR_DELIVERY_NO_ORDER', { id });
  try {
    // the transition is one conditional update: this version, a state the action may start from
    const r = await pool.query<Order>(
      `UPDATE orders SET state = CASE state ${statesFrom(action)
        .map((s) => `WHEN '${s}' THEN '${nextState(s, action)}'`)
        .join(' ')} END, version = version + 1, epoch = GREATEST(epoch, $3), updated_at = $4
       WHERE id = $1 AND version = $2 AND state = ANY($5) RETURNING *`,
      [id, Number(v), Number(req.headers['x-multizone-epoch'] ?? 0), Date.now(), statesFrom(action)],
    );
    const o = r.rows[0];
    if (o) return send(res, 200, view(o), marker(o));
  } catch (e) {
    // table replication locked the order: two zones moved it concurrently (failover in available mode)
    if ((e as { code?: string }).code === 'MZL01')
      return fail(res, 409, 'ERR_DELIVERY_ORDER_LOCKED', {
        id,
        hint: 'two zones changed this order; an operator resolves it with `multizone conflicts resolve`',
      });
    throw e;
  }
  const now = (await pool.query<Order>('SELECT * FROM orders WHERE id = $1', [id])).rows[0];
  if (!now) return fail(res, 404, 'ERR_DELIVERY_NO_ORDER', { id });
  if (now.version !== Number(v))
    return fail(res, 409, 'ERR_DELIVERY_STALE_VERSION', { id, version: now.version, state: now.state });
  return fail(res, 409, 'ERR_DELIVERY_ILLEGAL_TRANSITION', { id, state: now.state, action, version: now.version });
}

/** The remote marker a client carries: `mz_mark=<zone>.<order>.<version>`. */
function readMark(req: IncomingMessage): { zone: string; order: string; version: number } | undefined {
  const m = /(?:^|;\s*)mz_mark=([a-z][a-z0-9-]*)\.(o\d{1,5}-[0-9a-f]{16})\.(\d{1,9})(?:;|$)/.exec(
    String(req.headers.cookie ?? ''),
  );
  return m ? { zone: m[1]!, order: m[2]!, version: Number(m[3]) } : undefined;
}

/**
 * The remote marker (Facebook). A user who wrote in zone W carries `mz_mark=W.<order>.<version>`.
 * Reading here, while this replica lacks that version, the read is relayed to W through this
 * zone's router (`/api/at-writer/…`, a `local` resource the router routes by the cookie's zone):
 * the user sees their own write. Once the replica has it, the read is served here and the
 * marker is cleared: it lapses as soon as it is not needed (or after DELIVERY_MARK_SECONDS).
 */
async function myOrders(req: IncomingMessage, res: ServerResponse, user: string, atWriter: boolean): Promise<void> {
  const mark = readMark(req);
  let headers: Record<string, string> = {};
  if (mark && mark.zone !== zone && !atWriter) {
    const have = await pool.query<{ version: number }>('SELECT version FROM orders WHERE id = $1', [mark.order]);
    if ((have.rows[0]?.version ?? 0) < mark.version) {
      try {
        const r = await fetch(`${router}/api/at-writer/my-orders/${encodeURIComponent(user)}`, {
          headers: { cookie: `mz_mark=${mark.zone}.${mark.order}.${mark.version}` },
          signal: AbortSignal.timeout(3000),
        });
        if (r.status === 200) return send(res, 200, (await r.json()) as object, { 'x-delivery-read-at': mark.zone });
      } catch {
        // the writer zone cannot answer: this replica's (older) view is better than none
      }
      headers = { 'x-delivery-stale': mark.zone };
    } else headers = { 'set-cookie': 'mz_mark=; Max-Age=0; Path=/api/my-orders' };
  }
  const r = await pool.query<Order>('SELECT * FROM orders WHERE user_id = $1 ORDER BY updated_at DESC LIMIT 100', [
    user,
  ]);
  return send(res, 200, { user, servedBy: zone, orders: r.rows.map(view) }, headers);
}

async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://app');
  if (url.pathname === '/healthz') return send(res, 200, { zone, ok: true });
  if (!verify(req, body)) return fail(res, 401, 'ERR_DELIVERY_BAD_SIGNATURE');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  // dishes: a global resource — written by the global writer only, read from the local replica
  let m = /^\/api\/dishes\/([^/]+)$/.exec(path);
  if (m) {
    const dish = decodeURIComponent(m[1]!);
    if (!ID.test(dish)) return fail(res, 400, 'ERR_DELIVERY_BAD_DISH');
    if (method === 'GET') {
      const r = await pool.query('SELECT id, name, stock FROM dishes WHERE id = $1', [dish]);
      return r.rows[0] ? send(res, 200, r.rows[0]) : fail(res, 404, 'ERR_DELIVERY_NO_DISH', { dish });
    }
    if (method !== 'PUT') return fail(res, 405, 'ERR_DELIVERY_METHOD');
    if (req.headers['x-multizone-global'] !== zone) return fail(res, 421, 'ERR_DELIVERY_NOT_MINE');
    const b = json(body);
    if (typeof b?.name !== 'string' || !Number.isInteger(b.stock) || (b.stock as number) < 0)
      return fail(res, 400, 'ERR_DELIVERY_BAD_DISH', { want: '{name, stock >= 0}' });
    // stock only grows here: what was granted stays granted (lowering it would need the book)
    const r = await pool.query(
      `INSERT INTO dishes (id, name, stock) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, stock = GREATEST(dishes.stock, EXCLUDED.stock)
       RETURNING id, name, stock`,
      [dish, b.name, b.stock],
    );
    return send(res, 200, r.rows[0]);
  }

  // menus: global — written by the global writer, read here through this zone's Redis cache
  m = /^\/api\/menus\/([^/]+)$/.exec(path);
  if (m) {
    const restaurant = decodeURIComponent(m[1]!);
    if (!ID.test(restaurant)) return fail(res, 400, 'ERR_DELIVERY_BAD_MENU');
    if (method === 'GET') {
      // the edge may cache it too; a change purges it there by this surrogate key
      const cacheHeaders = { 'cache-control': 'public, max-age=300', 'surrogate-key': `menu-${restaurant}` };
      const hit = await redis.get(menuKey(restaurant));
      if (hit) return send(res, 200, JSON.parse(hit), { ...cacheHeaders, 'x-delivery-cache': 'hit' });
      const r = await pool.query('SELECT restaurant, items, version FROM menus WHERE restaurant = $1', [restaurant]);
      if (!r.rows[0]) return fail(res, 404, 'ERR_DELIVERY_NO_MENU', { restaurant });
      await redis.set(menuKey(restaurant), JSON.stringify(r.rows[0]), 'EX', MENU_TTL_S);
      return send(res, 200, r.rows[0], { ...cacheHeaders, 'x-delivery-cache': 'miss' });
    }
    if (method !== 'PUT') return fail(res, 405, 'ERR_DELIVERY_METHOD');
    if (req.headers['x-multizone-global'] !== zone) return fail(res, 421, 'ERR_DELIVERY_NOT_MINE');
    const b = json(body);
    if (!Array.isArray(b?.items) || !b.items.every((i) => i && typeof i === 'object' && typeof i.dish === 'string'))
      return fail(res, 400, 'ERR_DELIVERY_BAD_MENU', { want: '{items: [{dish, …}]}' });
    const r = await pool.query(
      `INSERT INTO menus (restaurant, items, version) VALUES ($1, $2, 1)
       ON CONFLICT (restaurant) DO UPDATE SET items = EXCLUDED.items, version = menus.version + 1
       RETURNING restaurant, items, version`,
      [restaurant, JSON.stringify(b.items)],
    );
    return send(res, 200, r.rows[0]);
  }

  // quota: a global write, which the router sends to the core zone (the global writer)
  m = /^\/api\/quota\/([^/]+)$/.exec(path);
  if (m) {
    if (method !== 'POST') return fail(res, 405, 'ERR_DELIVERY_METHOD');
    if (req.headers['x-multizone-global'] !== zone)
      return fail(res, 421, 'ERR_DELIVERY_NOT_MINE', { global: req.headers['x-multizone-global'] ?? null });
    const b = json(body);
    const returns = b?.returns;
    if (
      typeof b?.zone !== 'string' ||
      typeof b.id !== 'string' ||
      !ID.test(b.id) ||
      !Array.isArray(returns) ||
      !returns.every((r) => r && typeof r.id === 'string' && Number.isInteger(r.used) && r.used >= 0)
    )
      return fail(res, 400, 'ERR_DELIVERY_BAD_QUOTA_REQUEST', { want: '{zone, id, returns: [{id, used}]}' });
    const r = await coreGrant(
      decodeURIComponent(m[1]!),
      { zone: b.zone, id: b.id, returns: returns as LeaseReturn[] },
      Number(req.headers['x-multizone-global-epoch'] ?? 1),
    );
    return send(res, r.status, r.body);
  }

  if (path === '/api/orders') {
    if (method !== 'POST') return fail(res, 405, 'ERR_DELIVERY_METHOD');
    return placeOrder(req, res, body);
  }
  m = /^\/api\/orders\/(o\d{1,5}-[0-9a-f]{16})(?:\/([a-z]+))?$/.exec(path);
  if (m) {
    const id = m[1]!;
    if (m[2] === undefined) {
      if (method !== 'GET') return fail(res, 405, 'ERR_DELIVERY_METHOD');
      const r = await pool.query<Order>('SELECT * FROM orders WHERE id = $1', [id]);
      return r.rows[0] ? send(res, 200, view(r.rows[0])) : fail(res, 404, 'ERR_DELIVERY_NO_ORDER', { id });
    }
    if (method !== 'POST') return fail(res, 405, 'ERR_DELIVERY_METHOD');
    return transition(req, res, id, m[2]);
  }
  if (path.startsWith('/api/orders/')) return fail(res, 400, 'ERR_DELIVERY_BAD_ORDER_ID');

  // a user's orders, read from this zone's replica — unless the user carries a remote marker
  // this replica has not caught up with (see myOrders)
  m = /^\/api\/(at-writer\/)?my-orders\/([^/]+)$/.exec(path);
  if (m && method === 'GET') {
    const user = decodeURIComponent(m[2]!);
    if (!ID.test(user)) return fail(res, 400, 'ERR_DELIVERY_BAD_USER');
    return myOrders(req, res, user, m[1] !== undefined);
  }
  return fail(res, 404, 'ERR_DELIVERY_NO_ROUTE');
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= 64 * 1024) chunks.push(c);
  });
  req.on('end', () => {
    if (size > 64 * 1024) return fail(res, 413, 'ERR_DELIVERY_TOO_LARGE');
    handle(req, res, Buffer.concat(chunks)).catch((e: Error & { code?: string }) => {
      console.error(`delivery ${zone}: ${req.method} ${req.url}: ${e.code ?? ''} ${e.message}`);
      if (!res.headersSent) fail(res, 503, 'ERR_DELIVERY_UNAVAILABLE');
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, host, () => console.log(`delivery for ${zone} on http://${host}:${port}`));
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () =>
    server.close(() => {
      redis.disconnect();
      pool.end().finally(() => process.exit(0));
    }),
  );
