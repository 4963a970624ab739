import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { ManualClock } from '../core/clock.ts';
import { seededRandom } from '../core/random.ts';
import type { WorkloadRequest } from './accounts-workload.ts';
import {
  type AckedOrder,
  countLost,
  countOversold,
  DeliveryWorkload,
  type MenuSeen,
  menuStaleness,
} from './delivery-workload.ts';

const order = (id: string, versions: number[], o: Partial<AckedOrder> = {}): AckedOrder => ({
  id,
  dish: 'd0',
  qty: 1,
  zone: 'sh-a',
  versions,
  ...o,
});

test('delivery lost writes: an order read back below an acknowledged version loses the versions above; a missing one all; locked ones are left out', () => {
  const orders = [
    order('o1-a', [1, 2, 3]), // read at 3: all found
    order('o1-b', [1, 2, 3], { zone: 'gz-a' }), // read at 1: versions 2 and 3 lost
    order('o2-c', [1]), // missing: lost
    order('o2-d', [1, 2]), // locked: left out
    order('o3-e', [1, 2]), // read at 4 (a transition whose answer was lost went through): found
  ];
  const read = new Map<string, number | null>([
    ['o1-a', 3],
    ['o1-b', 1],
    ['o2-c', null],
    ['o2-d', 1],
    ['o3-e', 4],
  ]);
  const r = countLost(orders, read, new Set(['o2-d']));
  assert.equal(r.writes, 9);
  assert.equal(r.found, 6);
  assert.equal(r.lost.writes, 3);
  assert.equal(r.lost.orders, 2);
  assert.deepEqual(r.lost.examples, [
    { id: 'o1-b', zone: 'gz-a', want: 3, got: 1 },
    { id: 'o2-c', zone: 'sh-a', want: 1, got: null },
  ]);
});

test('delivery oversold: the larger of acknowledged and stored units against the stock; cancelled orders stay sold', () => {
  const stocks = new Map([
    ['d0', 5],
    ['d1', 10],
    ['d2', 3],
  ]);
  const orders = [
    order('a', [1], { dish: 'd0', qty: 3 }),
    order('b', [1, 2], { dish: 'd0', qty: 3 }), // cancelled at version 2: the service keeps it sold
    order('c', [1], { dish: 'd1', qty: 2 }),
  ];
  // d1: an order committed whose answer was lost shows in the store only; d2: nothing sold
  const stored = new Map([
    ['d0', 6],
    ['d1', 11],
  ]);
  assert.deepEqual(countOversold(stocks, orders, stored), [
    { id: 'd0', stock: 5, acknowledged: 6, stored: 6, oversold: 1 },
    { id: 'd1', stock: 10, acknowledged: 2, stored: 11, oversold: 1 },
    { id: 'd2', stock: 3, acknowledged: 0, stored: 0, oversold: 0 },
  ]);
  // unread store: acknowledged units only
  assert.deepEqual(
    countOversold(stocks, orders, null).map((d) => [d.stored, d.oversold]),
    [
      [null, 1],
      [null, 0],
      [null, 0],
    ],
  );
});

test('delivery menu staleness: last edit, worst edit among the survivors, and after the heal', () => {
  const seen = new Map<string, MenuSeen[]>([
    [
      'sh-a',
      [
        { at: 0, version: 1 },
        { at: 900, version: 2 }, // before edit 2's acknowledgement arrived: 0 ms
        { at: 4010, version: 2 }, // the first look after the heal is kept
        { at: 5100, version: 3 },
      ],
    ],
    [
      'gz-a',
      [
        { at: 0, version: 1 },
        // killed at 1000, healed at 4000: first look after the heal still at 1, then 3
        { at: 4050, version: 1 },
        { at: 4300, version: 2 },
        { at: 5250, version: 3 },
      ],
    ],
  ]);
  const edits = [
    { version: 1, at: 0 },
    { version: 2, at: 1000 },
    { version: 3, at: 5000 },
  ];
  const s = menuStaleness(edits, seen, 4000, 'gz-a');
  assert.equal(s.lastVersion, 3);
  assert.equal(s.lastMs, 250);
  assert.deepEqual(s.byZone, { 'sh-a': 100, 'gz-a': 250 });
  // among sh-a alone: edit 2 seen before its ack (0), edit 3 after 100 ms
  assert.equal(s.maxMs, 100);
  // the newest version acknowledged by the heal is 2: gz-a served it 300 ms after
  assert.equal(s.afterHealMs, 300);
  // never served somewhere: null; no heal: null
  const never = menuStaleness([...edits, { version: 4, at: 6000 }], seen, null);
  assert.deepEqual([never.lastMs, never.maxMs, never.afterHealMs], [null, null, null]);
});

/**
 * A stand-in for the routers in front of the delivery service: dishes, one menu, orders in
 * memory (no stock check, so the test can oversell), and GET /api/cluster/conflicts listing
 * `conflicts`. `lockedIds` answer transitions 409 ERR_DELIVERY_ORDER_LOCKED.
 */
async function fakeDelivery(f: (url: string, s: FakeState, d: Agent) => Promise<void>): Promise<void> {
  const s: FakeState = { orders: new Map(), lockedIds: new Set(), conflicts: [], menu: 0 };
  const body = (req: IncomingMessage) =>
    new Promise<Record<string, unknown>>((resolve) => {
      let b = '';
      req.on('data', (c) => (b += c));
      req.on('end', () => resolve(b ? JSON.parse(b) : {}));
    });
  const server = createServer(async (req, res) => {
    const send = (status: number, j: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-multizone-served-by': 'sh-a' });
      res.end(JSON.stringify(j));
    };
    const url = req.url!;
    const b = await body(req);
    if (url === '/api/cluster/conflicts') return send(200, { conflicts: [], tables: s.conflicts });
    if (/^\/api\/dishes\//.test(url)) return send(200, { id: url.split('/').pop(), ...b });
    if (/^\/api\/menus\//.test(url)) return send(200, { version: req.method === 'PUT' ? ++s.menu : s.menu });
    if (url === '/api/orders') {
      const shard = req.headers['x-geo'] === '1,1' ? 3 : 7;
      const o = { id: `o${shard}-${randomBytes(8).toString('hex')}`, ...b, state: 'placed', version: 1 } as FakeOrder;
      s.orders.set(o.id, o);
      return send(201, o);
    }
    const move = /^\/api\/orders\/([^/]+)\/([a-z]+)$/.exec(url);
    if (move) {
      const o = s.orders.get(move[1]!)!;
      if (s.lockedIds.has(o.id)) return send(409, { code: 'ERR_DELIVERY_ORDER_LOCKED' });
      if (Number(req.headers['if-match']) !== o.version)
        return send(409, { code: 'ERR_DELIVERY_STALE_VERSION', version: o.version, state: o.state });
      const to = { accept: 'accepted', pickup: 'picked-up', deliver: 'delivered', cancel: 'cancelled' }[move[2]!]!;
      Object.assign(o, { state: to, version: o.version + 1 });
      return send(200, o);
    }
    const one = /^\/api\/orders\/([^/]+)$/.exec(url);
    if (one) {
      const o = s.orders.get(one[1]!);
      return o ? send(200, o) : send(404, { code: 'ERR_DELIVERY_NO_ORDER' });
    }
    const mine = /^\/api\/my-orders\/([^/]+)$/.exec(url);
    if (mine) return send(200, { orders: [...s.orders.values()].filter((o) => o.user === mine[1]) });
    send(404, { code: 'ERR_DELIVERY_NO_ROUTE' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const d = new Agent();
  try {
    await f(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, s, d);
  } finally {
    await d.close();
    server.close();
  }
}
interface FakeOrder {
  id: string;
  user: string;
  dish: string;
  qty: number;
  state: string;
  version: number;
}
interface FakeState {
  orders: Map<string, FakeOrder>;
  lockedIds: Set<string>;
  conflicts: { table: string; key: string }[];
  menu: number;
}

/** Sends one workload request as the traffic would and hands the answer to its `done`. */
async function send(url: string, d: Agent, w: WorkloadRequest): Promise<number> {
  const r = await request(`${url}${w.path}`, {
    method: w.method,
    headers: w.headers,
    ...(w.body === undefined ? {} : { body: w.body }),
    dispatcher: d,
  });
  const text = await r.body.text();
  w.done?.(r.statusCode, text, String(r.headers['x-multizone-served-by'] ?? ''));
  return r.statusCode;
}

test('delivery workload: answers recorded during the traffic give lost writes, locked orders and sold units at the read-back', async () => {
  await fakeDelivery(async (url, s, d) => {
    const clock = new ManualClock();
    const w = new DeliveryWorkload({
      dispatcher: d,
      clock,
      random: seededRandom(7),
      routers: new Map([
        ['sh-a', url],
        ['gz-a', url],
      ]),
      ownerOf: (shard) => (shard === 3 ? 'sh-a' : 'gz-a'),
      stocks: [2, 1000],
      fencePoints: { 'sh-a': '1,1', 'gz-a': '2,2' },
    });
    await w.setup(4);
    // one order per fence at setup: the users' homes are their fences' shards' owners
    assert.equal(w.orders.size, 2);
    assert.deepEqual(
      w.users.map((u) => [u.home, u.shard]),
      [
        ['sh-a', 3],
        ['gz-a', 7],
        ['sh-a', 3],
        ['gz-a', 7],
      ],
    );
    const [u0, u1, u2] = w.users as [(typeof w.users)[0], (typeof w.users)[0], (typeof w.users)[0]];
    // u0: places, then moves its order on twice (a write while one is in flight is a read)
    const p0 = w.next(u0, true);
    assert.deepEqual([p0.method, p0.path, p0.headers['x-geo']], ['POST', '/api/orders', '1,1']);
    assert.equal(w.next(u0, true).method, 'GET', 'one write in flight per user');
    assert.equal(await send(url, d, p0), 201);
    for (let i = 0; i < 2; i++) assert.equal(await send(url, d, w.next(u0, true)), 200);
    const id0 = [...w.orders.values()].find((o) => s.orders.get(o.id)?.user === u0.id)!.id;
    assert.ok(s.orders.get(id0)!.version >= 3);
    // u1: places; its order is then locked by a conflict
    await send(url, d, w.next(u1, true));
    const id1 = [...s.orders.values()].find((o) => o.user === u1.id)!.id;
    s.lockedIds.add(id1);
    assert.equal(await send(url, d, w.next(u1, true)), 409);
    // u2: places; the order is listed as a table conflict, and it is gone from the owner's view
    await send(url, d, w.next(u2, true));
    const id2 = [...s.orders.values()].find((o) => o.user === u2.id)!.id;
    s.conflicts.push({ table: 'orders', key: id2 }, { table: 'menus', key: 'x' });
    // a stale version: the client carries on from the owner's version
    s.orders.get(id0)!.version++;
    const stale = w.next(u0, true);
    assert.equal(await send(url, d, stale), 409);
    const carried = s.orders.get(id0)!.version;
    // the owner behind what was acknowledged (a lost write, or replication not there yet): the
    // client keeps its version rather than acknowledge the lost ones again
    s.orders.get(id0)!.version = 1;
    const behind = w.next(u0, true);
    assert.equal(behind.headers['if-match'], String(carried));
    assert.equal(await send(url, d, behind), 409);
    assert.equal(w.next(u0, true).headers['if-match'], String(carried));
    // every second a write is a menu edit instead
    clock.advance(1000);
    const menu = w.next(u1, true);
    assert.deepEqual([menu.method, menu.path.startsWith('/api/menus/')], ['PUT', true]);
    assert.equal(await send(url, d, menu), 200);
    // the owner lost u0's transitions: its order reads back at version 1
    const acked0 = w.orders.get(id0)!.versions;
    const r = await w.finish(url, { base: url, dispatcher: d }, 0);
    assert.equal(r.lost.orders, 1);
    assert.equal(r.lost.writes, acked0.filter((v) => v > 1).length);
    assert.deepEqual(r.lost.examples[0], { id: id0, zone: 'sh-a', want: Math.max(...acked0), got: 1 });
    assert.equal(r.locked.orders, 2);
    assert.equal(r.locked.byAnswer, 1);
    assert.equal(r.locked.listed, 1);
    assert.deepEqual(new Set(r.locked.ids), new Set([id1, id2]));
    assert.equal(r.orders.placed, 5);
    assert.equal(r.orders.refused['409 ERR_DELIVERY_ORDER_LOCKED'], 1);
    assert.equal(r.orders.refused['409 ERR_DELIVERY_STALE_VERSION'], 2);
    // stored units: every user's orders in the store, per dish (the stand-in never refuses)
    for (const x of r.dishes) {
      const units = [...s.orders.values()].filter((o) => o.dish === x.id).reduce((a, o) => a + o.qty, 0);
      assert.equal(x.stored, units);
      assert.equal(x.oversold, Math.max(0, units - x.stock));
    }
    // the setup's edit, the traffic's and the one after the traffic
    assert.equal(r.menu.edits, 3);
    assert.equal(r.menu.lastVersion, 3);
  });
});
