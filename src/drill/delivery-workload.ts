import { request } from 'undici';
import type { Timer } from '../core/clock.ts';
import { HEADERS } from '../shardmap/index.ts';
import { parse, type WorkloadDeps, type WorkloadRequest } from './accounts-workload.ts';
import { type Control, controlJson } from './control-http.ts';
import { drillErrors } from './errors.ts';

/**
 * A point (lat,lng) inside each zone's geo-fence in the delivery reference service's topology
 * (examples/delivery: `FENCE_POINT`); an order placed with `x-geo` there lives in that fence's
 * zone. Zones of another topology have no point: the workload refuses to start without any.
 */
export const DELIVERY_FENCE_POINTS: Readonly<Record<string, string>> = {
  'sh-b': '30.27,120.15',
  'sh-a': '31.23,121.47',
  'bj-a': '39.90,116.40',
  'gz-a': '23.13,113.26',
};

/** Stock of the limited dishes set up before the traffic (the last, large one never runs out). */
export const DELIVERY_STOCKS = [40, 120, 300, 100_000] as const;

/** One order the drill placed and got a 201 for, with every version it got a 2xx for since. */
export interface AckedOrder {
  id: string;
  dish: string;
  qty: number;
  /** The zone that acknowledged the placing. */
  zone: string;
  /** Versions acknowledged: 1 (the 201), then each transition's 200. */
  versions: number[];
}

/** What the delivery workload reports after the drill (`DrillReport.delivery`). */
export interface DeliveryFigures {
  users: number;
  orders: {
    /** Orders acknowledged (201), by the zone that acknowledged them. */
    placed: number;
    placedBy: Record<string, number>;
    /** Transitions acknowledged (200). */
    transitions: number;
    delivered: number;
    cancelled: number;
    /** Answers by kind for placings and transitions that were not acknowledged (`409 ERR_DELIVERY_SOLD_OUT`, …). */
    refused: Record<string, number>;
  };
  /** Acknowledged orders and transitions read back at the owner through a router after the drill. */
  readBack: { orders: number; writes: number; found: number; tookMs: number };
  /** Acknowledged writes (placings + transitions) not read back, the locked orders' aside; must be 0. */
  lost: { writes: number; orders: number; examples: { id: string; zone: string; want: number; got: number | null }[] };
  /** Orders whose transition answered 409 ERR_DELIVERY_ORDER_LOCKED, or listed as table conflicts of `orders`. */
  locked: { orders: number; byAnswer: number; listed: number; ids: string[] };
  /**
   * Per limited dish: its stock, the units of acknowledged orders (cancelled ones included: the
   * service does not give stock back), the units stored in the service (every drill user's orders
   * of the dish, read in each zone: the most any zone holds; null when unread) and the units over stock.
   */
  dishes: { id: string; stock: number; acknowledged: number; stored: number | null; oversold: number }[];
  /** Units sold over stock, all dishes (must be 0). */
  oversold: number;
  /** The menu edited every second: its edits, the traffic's reads of it, and how long zones served an old one (`healed`: the zone was restored). */
  menu: MenuStaleness & { restaurant: string; edits: number; reads: number; healed: boolean };
}

/** How long the zones served an old menu: each figure is null when some zone never served the version. */
export interface MenuStaleness {
  /** The last acknowledged edit's version (the drill edits once more after the traffic and the heal). */
  lastVersion: number | null;
  /** ms from the last edit's acknowledgement until every zone served it (or a later one). */
  lastMs: number | null;
  /** The largest such figure over every edit, in the zones the fault left alone (a dead zone serves nothing). */
  maxMs: number | null;
  /** ms from the heal until every zone served the newest version acknowledged by then. */
  afterHealMs: number | null;
  /** Per place (a zone's router `sh-a`, its edge `sh-a edge`): ms from the last edit's acknowledgement until it served it (null: never seen). */
  byZone: Record<string, number | null>;
}

/** One look at a zone's menu: when (clock ms) and the version it served. */
export interface MenuSeen {
  at: number;
  version: number;
}

/**
 * Acknowledged writes of `orders` not read back: an order read back at version r holds every
 * acknowledged version ≤ r; a missing order (null) holds none. Locked orders are left out (two
 * zones moved them; the owner's row is one candidate of a conflict an operator resolves).
 */
export function countLost(
  orders: Iterable<AckedOrder>,
  read: ReadonlyMap<string, number | null>,
  locked: ReadonlySet<string>,
): { writes: number; found: number; lost: DeliveryFigures['lost'] } {
  const out = {
    writes: 0,
    found: 0,
    lost: { writes: 0, orders: 0, examples: [] as DeliveryFigures['lost']['examples'] },
  };
  for (const o of orders) {
    if (locked.has(o.id)) continue;
    out.writes += o.versions.length;
    const got = read.get(o.id) ?? null;
    const missing = o.versions.filter((v) => got === null || v > got).length;
    out.found += o.versions.length - missing;
    if (missing === 0) continue;
    out.lost.writes += missing;
    out.lost.orders++;
    if (out.lost.examples.length < 10)
      out.lost.examples.push({ id: o.id, zone: o.zone, want: Math.max(...o.versions), got });
  }
  return out;
}

/**
 * Units over stock per dish: the larger of what the drill got acknowledged and what the service
 * stores (an order committed whose answer was lost is sold too) against the stock.
 */
export function countOversold(
  stocks: ReadonlyMap<string, number>,
  orders: Iterable<AckedOrder>,
  stored: ReadonlyMap<string, number> | null,
): DeliveryFigures['dishes'] {
  const acked = new Map<string, number>();
  for (const o of orders) acked.set(o.dish, (acked.get(o.dish) ?? 0) + o.qty);
  return [...stocks].map(([id, stock]) => {
    const a = acked.get(id) ?? 0;
    const s = stored ? (stored.get(id) ?? 0) : null;
    return { id, stock, acknowledged: a, stored: s, oversold: Math.max(0, Math.max(a, s ?? 0) - stock) };
  });
}

/**
 * Menu staleness from the edits' acknowledgements and what each zone served when looked at.
 * A zone serves version v from the first look at or after `from` that saw v or later; a look
 * before the acknowledgement that already saw it counts as 0 ms. Example: edit 3 acknowledged at
 * 1000, zone A saw 3 at 900 and zone B first at 1250: lastMs 250.
 */
export function menuStaleness(
  edits: readonly { version: number; at: number }[],
  seen: ReadonlyMap<string, readonly MenuSeen[]>,
  healAt: number | null,
  faulted?: string,
): MenuStaleness {
  const zones = [...seen.keys()];
  // a place is a zone's router (`gz-a`) or edge (`gz-a edge`)
  const survivors = zones.filter((z) => z.split(' ')[0] !== faulted);
  // ms from `from` until the zone first served `version` or later (looks in time order)
  const firstAfter = (z: string, version: number, from: number): number | null => {
    const s = seen.get(z)!.find((x) => x.version >= version);
    return s ? Math.max(0, s.at - from) : null;
  };
  const until = (version: number, from: number, among = zones) => {
    const per = among.map((z) => firstAfter(z, version, from));
    return per.includes(null) ? null : Math.max(0, ...(per as number[]));
  };
  const last = edits.reduce<{ version: number; at: number } | null>(
    (m, e) => (m === null || e.version > m.version ? e : m),
    null,
  );
  let maxMs: number | null = edits.length ? 0 : null;
  for (const e of edits) {
    const ms = until(e.version, e.at, survivors);
    maxMs = ms === null || maxMs === null ? null : Math.max(maxMs, ms);
  }
  let afterHealMs: number | null = null;
  if (healAt !== null) {
    const v = Math.max(0, ...edits.filter((e) => e.at <= healAt).map((e) => e.version));
    const per = zones.map((z) => {
      const s = seen.get(z)!.find((x) => x.at >= healAt && x.version >= v);
      return s ? s.at - healAt : null;
    });
    afterHealMs = per.includes(null) ? null : Math.max(0, ...(per as number[]));
  }
  return {
    lastVersion: last?.version ?? null,
    lastMs: last ? until(last.version, last.at) : null,
    maxMs,
    afterHealMs,
    byZone: Object.fromEntries(zones.map((z) => [z, last ? firstAfter(z, last.version, last.at) : null])),
  };
}

/** A drill user of the delivery service (a plan's `DrillUser`): buys at restaurants of one fence, one order at a time. */
interface DeliveryUser {
  id: string;
  shard: number;
  home: string;
  /** The zone whose fence its restaurants are in (x-geo). */
  fence: string;
  busy: boolean;
  /** The order it is moving along, if any; `notFound`: answers in a row from an owner without it or behind it. */
  order?: { rec: AckedOrder; state: string; version: number; notFound: number };
}

const TERMINAL = new Set(['delivered', 'cancelled']);
/**
 * Refusals the service gives by design, not for want of a zone: a dish sold out, a version or
 * state another request changed first, an order locked by a conflict (counted on its own).
 */
const BY_DESIGN = new Set([
  'ERR_DELIVERY_SOLD_OUT',
  'ERR_DELIVERY_STALE_VERSION',
  'ERR_DELIVERY_ILLEGAL_TRANSITION',
  'ERR_DELIVERY_ORDER_LOCKED',
]);
/**
 * A zone out of quota while the core zone cannot grant: after the core's takeover the new core
 * grants nothing until every lease the old one may have granted unseen has run out (the
 * quota's leaseMs + graceMs), so as never to oversell. Designed, and shown under "refused"
 * with its count; not an outage of the zone that answers it.
 */
const QUOTA_PENDING = 'ERR_DELIVERY_QUOTA_PENDING';
const byDesign = (status: number, text: string) => {
  const code = String(parse(text).code);
  return (status === 409 && BY_DESIGN.has(code)) || (status === 503 && code === QUOTA_PENDING);
};
/** The action that moves an order on from a state (cancel is drawn separately). */
const NEXT_ACTION: Record<string, string> = { placed: 'accept', accepted: 'pickup', 'picked-up': 'deliver' };
/** How often a menu edit replaces a user's write (ms). */
const MENU_EDIT_MS = 1000;
/** How often each zone's menu is looked at (ms). */
const MENU_LOOK_MS = 100;
/** A transition answered 404, or with a version below the acknowledged one, this many times in a row (the owner behind) gives the order up. */
const NOT_FOUND_GIVE_UP = 20;
/** How long a setup call answered 5xx is tried again before the drill gives up (ms). */
const SETUP_RETRY_MS = 60_000;

/**
 * The drill's workload on the delivery reference service (examples/delivery): users place orders
 * at restaurants in every zone's geo-fence (`POST /api/orders`, `x-geo`), move them along
 * (accept → pickup → deliver with `If-Match`, sometimes cancel), buy limited-stock dishes set up
 * first, and one menu is edited every second (a global write) and read in every zone. After the
 * drill, `finish` reads every acknowledged order back at its owner and counts lost writes,
 * locked orders, oversold units and menu staleness.
 */
export class DeliveryWorkload {
  readonly users: DeliveryUser[] = [];
  /** Acknowledged orders by id. */
  readonly orders = new Map<string, AckedOrder>();
  private readonly lockedByAnswer = new Set<string>();
  /** The users of the setup's one order per fence. */
  private readonly probeUsers: string[] = [];
  private readonly stocks = new Map<string, number>();
  private readonly refused: Record<string, number> = {};
  private transitions = 0;
  private delivered = 0;
  private cancelled = 0;
  private readonly tag: string;
  private readonly restaurant: string;
  private readonly menuEdits: { version: number; at: number }[] = [];
  private menuInFlight = false;
  private nextMenuEdit = 0;
  private menuReads = 0;
  private readonly menuSeen = new Map<string, MenuSeen[]>();
  private watch: Timer | undefined;
  private healAt: number | null = null;

  constructor(
    private readonly o: WorkloadDeps & {
      stocks?: readonly number[];
      fencePoints?: Readonly<Record<string, string>>;
      /** Edge base URL per zone: the menu is looked at there too (as `<zone> edge`), with Host `host`. */
      edges?: Map<string, string>;
      host?: string;
    },
  ) {
    this.tag = `drill${o.random.seed}`;
    this.restaurant = `${this.tag}-menu`;
  }

  /**
   * Sets the dishes (`PUT /api/dishes/<id>`) and the menu up through the routers (and starts
   * looking at the menu in every zone), places one order in each fence (its id gives the
   * fence's shard, whose owner is the fence's users' home zone) and makes `count` users.
   */
  async setup(count: number): Promise<void> {
    try {
      await this.setUp(count);
    } catch (e) {
      this.stop(); // the drill never gets the workload to stop it
      throw e;
    }
  }

  private async setUp(count: number): Promise<void> {
    const points = this.o.fencePoints ?? DELIVERY_FENCE_POINTS;
    const zones = [...this.o.routers.keys()];
    const fences = zones.filter((z) => points[z]);
    if (fences.length === 0)
      throw drillErrors.ERR_FAILOVER_DRILL(
        `drill: delivery workload: no geo-fence point for any of the zones ${zones.join(', ')} (it knows ${Object.keys(points).join(', ')})`,
      );
    const first = this.o.routers.get(zones[0]!)!;
    for (const [k, stock] of (this.o.stocks ?? DELIVERY_STOCKS).entries()) {
      const id = `${this.tag}-d${k}`;
      const r = await this.setupCall(`${first}/api/dishes/${id}`, 'PUT', { name: `drill dish ${k}`, stock });
      if (r.status !== 200) throw this.setupFailed(`PUT /api/dishes/${id}`, r);
      this.stocks.set(id, stock);
    }
    // the looks start before the first edit, so its staleness is measured too
    for (const [place] of this.places()) this.menuSeen.set(place, []);
    this.startWatch();
    const menu = await this.setupCall(`${first}/api/menus/${this.restaurant}`, 'PUT', this.menuBody(0));
    if (menu.status !== 200) throw this.setupFailed(`PUT /api/menus/${this.restaurant}`, menu);
    this.menuEdits.push({ version: Number(menu.json.version), at: this.o.clock.now() });
    const homes = new Map<string, { shard: number; home: string }>();
    const plenty = [...this.stocks.keys()].at(-1)!;
    for (const f of fences) {
      const user = `${this.tag}-probe-${f}`;
      this.probeUsers.push(user);
      const r = await this.setupCall(
        `${this.o.routers.get(f)}/api/orders`,
        'POST',
        { user, restaurant: `${this.tag}-r-${f}`, dish: plenty, qty: 1 },
        { 'x-geo': points[f]! },
      );
      const id = String(r.json.id ?? '');
      const m = /^o(\d+)-/.exec(id);
      if (r.status !== 201 || !m) throw this.setupFailed(`POST /api/orders (fence of ${f})`, r);
      this.orders.set(id, { id, dish: plenty, qty: 1, zone: r.servedBy, versions: [1] });
      const shard = Number(m[1]);
      homes.set(f, { shard, home: this.o.ownerOf(shard) });
    }
    for (let i = 0; i < count; i++) {
      const fence = fences[i % fences.length]!;
      const h = homes.get(fence)!;
      this.users.push({ id: `${this.tag}-u${i}`, shard: h.shard, home: h.home, fence, busy: false });
    }
    this.nextMenuEdit = this.o.clock.now() + MENU_EDIT_MS;
  }

  /** The user's next request: a write moves its order along or places a new one (or, every second, edits the menu); a read looks at its order or the menu. */
  next(user: { id: string }, wantWrite: boolean): WorkloadRequest {
    const u = user as DeliveryUser;
    if (wantWrite && !this.menuInFlight && this.o.clock.now() >= this.nextMenuEdit) return this.menuEdit();
    if (wantWrite && !u.busy) {
      const o = u.order;
      if (o && !TERMINAL.has(o.state) && NEXT_ACTION[o.state]) return this.transition(u, o);
      return this.place(u);
    }
    if (this.o.random.next() < 0.3 || !u.order) {
      this.menuReads++;
      return { method: 'GET', path: `/api/menus/${this.restaurant}`, headers: {}, write: false };
    }
    return { method: 'GET', path: `/api/orders/${u.order.rec.id}`, headers: {}, write: false };
  }

  private place(u: DeliveryUser): WorkloadRequest {
    u.busy = true;
    const dishes = [...this.stocks.keys()];
    const dish = dishes[this.o.random.int(dishes.length)]!;
    const qty = 1 + this.o.random.int(3);
    const points = this.o.fencePoints ?? DELIVERY_FENCE_POINTS;
    return {
      method: 'POST',
      path: '/api/orders',
      // the restaurant's location and no user key: the router's key is the fence's shard
      headers: { 'content-type': 'application/json', 'x-geo': points[u.fence]! },
      body: JSON.stringify({ user: u.id, restaurant: `${this.tag}-r-${u.fence}`, dish, qty }),
      write: true,
      answered: byDesign,
      done: (status, text, servedBy) => {
        u.busy = false;
        const j = parse(text);
        if (status === 201 && typeof j.id === 'string') {
          const rec: AckedOrder = { id: j.id, dish, qty, zone: servedBy ?? String(j.zone ?? ''), versions: [1] };
          this.orders.set(rec.id, rec);
          u.order = { rec, state: 'placed', version: 1, notFound: 0 };
        } else this.refuse(status, j);
        return undefined;
      },
    };
  }

  private transition(u: DeliveryUser, o: NonNullable<DeliveryUser['order']>): WorkloadRequest {
    u.busy = true;
    const cancel = (o.state === 'placed' || o.state === 'accepted') && this.o.random.next() < 0.1;
    const action = cancel ? 'cancel' : NEXT_ACTION[o.state]!;
    return {
      method: 'POST',
      path: `/api/orders/${o.rec.id}/${action}`,
      headers: { 'if-match': String(o.version) },
      write: true,
      answered: byDesign,
      done: (status, text) => {
        u.busy = false;
        const j = parse(text);
        if (status === 200 && typeof j.version === 'number') {
          this.transitions++;
          o.rec.versions.push(j.version);
          o.version = j.version;
          o.state = String(j.state);
          o.notFound = 0;
          if (o.state === 'delivered') this.delivered++;
          if (o.state === 'cancelled') this.cancelled++;
          return undefined;
        }
        this.refuse(status, j);
        const code = String(j.code ?? '');
        if (code === 'ERR_DELIVERY_ORDER_LOCKED') {
          this.lockedByAnswer.add(o.rec.id);
          o.state = 'locked';
        } else if (
          (code === 'ERR_DELIVERY_STALE_VERSION' || code === 'ERR_DELIVERY_ILLEGAL_TRANSITION') &&
          typeof j.version === 'number' &&
          j.version >= o.version
        ) {
          // an earlier transition whose answer was lost went through: carry on from the owner's row
          o.version = j.version;
          if (typeof j.state === 'string') o.state = j.state;
        } else if (
          code === 'ERR_DELIVERY_NO_ORDER' ||
          code === 'ERR_DELIVERY_STALE_VERSION' ||
          code === 'ERR_DELIVERY_ILLEGAL_TRANSITION'
        ) {
          // the owner lacks the order or is behind what was acknowledged (a new owner replication has
          // not caught up yet, or a lost write): never carry on from an older row — that would
          // acknowledge the lost versions again and hide them from the read-back. Try again later;
          // after NOT_FOUND_GIVE_UP such answers the order is left to the read-back
          if (++o.notFound >= NOT_FOUND_GIVE_UP) o.state = 'lost-sight';
        }
        return undefined;
      },
    };
  }

  private menuEdit(): WorkloadRequest {
    this.menuInFlight = true;
    const n = this.menuEdits.length;
    return {
      method: 'PUT',
      path: `/api/menus/${this.restaurant}`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(this.menuBody(n)),
      write: true,
      done: (status, text) => {
        this.menuInFlight = false;
        this.nextMenuEdit = this.o.clock.now() + MENU_EDIT_MS;
        const j = parse(text);
        if (status === 200 && typeof j.version === 'number')
          this.menuEdits.push({ version: j.version, at: this.o.clock.now() });
        else this.refuse(status, j, 'menu ');
        return undefined;
      },
    };
  }

  private menuBody(n: number): { items: { dish: string; price: number }[] } {
    return { items: [...this.stocks.keys()].map((dish, k) => ({ dish, price: 10 + k + n })) };
  }

  private refuse(status: number, j: Record<string, unknown>, what = ''): void {
    const kind = `${what}${status || 'no answer'}${j.code ? ` ${String(j.code)}` : j.error ? ` ${String(j.error)}` : ''}`;
    this.refused[kind] = (this.refused[kind] ?? 0) + 1;
  }

  /**
   * Looks at the menu in every zone every MENU_LOOK_MS (one look per zone in flight), through its
   * router. A look is kept when it saw another version than the last kept one, or came after a
   * failed look or the heal (what the staleness figures need, not every look of a long drill).
   */
  private startWatch(): void {
    const inFlight = new Set<string>();
    const failedLast = new Set<string>();
    this.watch = this.o.clock.setInterval(MENU_LOOK_MS, () => {
      for (const [z, base, headers] of this.places()) {
        if (inFlight.has(z)) continue;
        inFlight.add(z);
        void request(`${base}/api/menus/${this.restaurant}`, { dispatcher: this.o.dispatcher, headers })
          .then(async (r) => {
            const j = parse(await r.body.text());
            if (r.statusCode !== 200 || typeof j.version !== 'number') {
              failedLast.add(z);
              return;
            }
            const seen = this.menuSeen.get(z)!;
            const last = seen.at(-1);
            const at = this.o.clock.now();
            if (
              !last ||
              last.version !== j.version ||
              failedLast.has(z) ||
              (this.healAt !== null && last.at < this.healAt)
            )
              seen.push({ at, version: j.version });
            failedLast.delete(z);
          })
          .catch(() => failedLast.add(z))
          .finally(() => inFlight.delete(z));
      }
    });
  }

  /** Where the menu is looked at: each zone's router (`<zone>`) and edge (`<zone> edge`), and the headers to send. */
  private places(): [string, string, Record<string, string>][] {
    const host: Record<string, string> = this.o.host ? { host: this.o.host } : {};
    return [
      ...[...this.o.routers].map(([z, url]): [string, string, Record<string, string>] => [z, url, {}]),
      ...[...(this.o.edges ?? [])].map(([z, url]): [string, string, Record<string, string>] => [
        `${z} edge`,
        url,
        host,
      ]),
    ];
  }

  /** The faulted zone is back (clock ms now): menu staleness after the heal counts from here. */
  healed(): void {
    this.healAt = this.o.clock.now();
  }

  /** Stops looking at the menu. */
  stop(): void {
    this.watch?.cancel();
    this.watch = undefined;
  }

  /**
   * After the drill: lists the open table conflicts of `orders`, reads every acknowledged order
   * back through `router` (any zone's: it routes to the owner) until each holds its acknowledged
   * versions or `timeoutMs` passes, reads every user's orders in each zone for the stored units,
   * waits (up to `timeoutMs`) for every zone to serve the last menu, then stops the menu looks.
   */
  async finish(router: string, control: Control, timeoutMs: number, faulted?: string): Promise<DeliveryFigures> {
    const t0 = this.o.clock.now();
    const listed = await this.listedConflicts(control);
    const locked = new Set([...this.lockedByAnswer, ...[...this.orders.keys()].filter((id) => listed.has(id))]);
    const read = new Map<string, number | null>();
    let todo = [...this.orders.values()].filter((o) => !locked.has(o.id));
    for (;;) {
      await pool(todo, 32, async (o) => read.set(o.id, await this.readOrder(router, o.id)));
      todo = todo.filter((o) => Math.max(...o.versions) > (read.get(o.id) ?? 0));
      if (todo.length === 0 || this.o.clock.now() - t0 >= timeoutMs) break;
      await this.o.clock.sleep(250);
    }
    const tookMs = Math.round(this.o.clock.now() - t0);
    const counted = countLost(this.orders.values(), read, locked);
    const dishes = countOversold(this.stocks, this.orders.values(), await this.storedUnits());
    // one more menu edit with every zone up (after the heal): its staleness is the cache
    // refresh's alone, then wait for it in every zone as for the orders (the looks go on meanwhile)
    const t1 = this.o.clock.now();
    const edit = await this.setupCall(
      `${router}/api/menus/${this.restaurant}`,
      'PUT',
      this.menuBody(this.menuEdits.length),
    );
    if (edit.status === 200 && typeof edit.json.version === 'number')
      this.menuEdits.push({ version: edit.json.version, at: this.o.clock.now() });
    else this.refuse(edit.status, edit.json, 'menu ');
    const lastVersion = Math.max(0, ...this.menuEdits.map((e) => e.version));
    const servedEverywhere = () =>
      [...this.menuSeen.values()].every((s) => s.some((x) => x.version >= lastVersion && x.at >= (this.healAt ?? 0)));
    // (a zone left down answers nothing: no wait then)
    while (this.healAt !== null && !servedEverywhere() && this.o.clock.now() - t1 < timeoutMs)
      await this.o.clock.sleep(100);
    this.stop();
    return {
      users: this.users.length,
      orders: {
        placed: this.orders.size,
        placedBy: tally([...this.orders.values()].map((o) => o.zone)),
        transitions: this.transitions,
        delivered: this.delivered,
        cancelled: this.cancelled,
        refused: { ...this.refused },
      },
      readBack: { orders: this.orders.size - locked.size, writes: counted.writes, found: counted.found, tookMs },
      lost: counted.lost,
      locked: {
        orders: locked.size,
        byAnswer: this.lockedByAnswer.size,
        listed: [...this.orders.keys()].filter((id) => listed.has(id)).length,
        ids: [...locked].slice(0, 10),
      },
      dishes,
      oversold: dishes.reduce((a, d) => a + d.oversold, 0),
      menu: {
        restaurant: this.restaurant,
        edits: this.menuEdits.length,
        reads: this.menuReads,
        healed: this.healAt !== null,
        ...menuStaleness(this.menuEdits, this.menuSeen, this.healAt, faulted),
      },
    };
  }

  /** The order's version at its owner (null: not found or no answer). */
  private async readOrder(router: string, id: string): Promise<number | null> {
    try {
      const r = await request(`${router}/api/orders/${id}`, {
        dispatcher: this.o.dispatcher,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const j = parse(await r.body.text());
      return r.statusCode === 200 && typeof j.version === 'number' ? j.version : null;
    } catch {
      return null;
    }
  }

  /**
   * Units of each dish the service stores: every drill user's orders (`GET /api/my-orders/<user>`,
   * this zone's replica, at most 100 per user) summed per dish in each zone; the most any zone
   * holds. Null when some zone could not be read.
   */
  private async storedUnits(): Promise<Map<string, number> | null> {
    const users = [...this.users.map((u) => u.id), ...this.probeUsers];
    const most = new Map<string, number>();
    for (const [, base] of this.o.routers) {
      const units = new Map<string, number>();
      let failed = false;
      await pool(users, 16, async (user) => {
        try {
          const r = await request(`${base}/api/my-orders/${user}`, {
            dispatcher: this.o.dispatcher,
            headersTimeout: 10_000,
            bodyTimeout: 10_000,
          });
          const j = parse(await r.body.text());
          if (r.statusCode !== 200) {
            failed = true;
            return;
          }
          for (const x of (j.orders ?? []) as { dish: string; qty: number }[])
            if (this.stocks.has(x.dish)) units.set(x.dish, (units.get(x.dish) ?? 0) + x.qty);
        } catch {
          failed = true;
        }
      });
      if (failed) return null;
      for (const [d, n] of units) most.set(d, Math.max(most.get(d) ?? 0, n));
    }
    return most;
  }

  /** Keys (order ids) of open table conflicts of `orders` (GET /api/cluster/conflicts, or /api/conflicts on an older control API). */
  private async listedConflicts(control: Control): Promise<Set<string>> {
    type Listed = { tables?: { table: string; key: string }[] };
    const r = await controlJson<Listed>(control, '/api/cluster/conflicts')
      .catch(() => controlJson<Listed>(control, '/api/conflicts'))
      .catch(() => ({}) as Listed);
    const keys = new Set<string>();
    for (const t of r.tables ?? []) if (t.table === 'orders') keys.add(t.key);
    return keys;
  }

  private async setupCall(
    url: string,
    method: 'PUT' | 'POST',
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: Record<string, unknown>; servedBy: string }> {
    const until = this.o.clock.now() + SETUP_RETRY_MS;
    for (let k = 0; ; k++) {
      let status = 0;
      let json: Record<string, unknown> = {};
      let servedBy = '';
      try {
        const r = await request(url, {
          method,
          dispatcher: this.o.dispatcher,
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        });
        status = r.statusCode;
        json = parse(await r.body.text());
        servedBy = String(r.headers[HEADERS.servedBy] ?? '');
      } catch (e) {
        json = { error: (e as Error).message };
      }
      // 5xx or no answer (the quota's first batch, a router still settling): again, as a client would
      if ((status !== 0 && status < 500) || this.o.clock.now() >= until) return { status, json, servedBy };
      await this.o.clock.sleep(Math.min(250 * (k + 1), 2000));
    }
  }

  private setupFailed(what: string, r: { status: number; json: Record<string, unknown> }): Error {
    return drillErrors.ERR_FAILOVER_DRILL(
      `drill: delivery workload: ${what} → ${r.status} ${String(r.json.code ?? r.json.error ?? '')}`,
    );
  }
}

/** Runs fn over items with at most `width` in flight. */
async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

function tally(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
