/**
 * Causal order, the WeChat Moments rule: every ID a zone issues is greater than every ID it
 * has seen, so anything posted in reply to X sorts after X in every zone. IDs are
 * (counter, zone): unique per zone, totally ordered.
 */
export interface CausalId {
  n: number;
  zone: string;
}

/** Total order: counter first, zone name breaks ties. */
export function compareCausal(a: CausalId, b: CausalId): number {
  return a.n !== b.n ? a.n - b.n : a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0;
}

/** `17.sh-a`: sortable only through compareCausal, readable anywhere. */
export function causalText(id: CausalId): string {
  return `${id.n}.${id.zone}`;
}

/** Issues a zone's IDs: next() = max(seen) + 1. */
export class CausalClock {
  private max: number;

  constructor(
    readonly zone: string,
    start = 0,
  ) {
    this.max = start;
  }

  /** Records an ID that arrived from anywhere. */
  observe(id: CausalId): void {
    if (id.n > this.max) this.max = id.n;
  }

  next(): CausalId {
    this.max += 1;
    return { n: this.max, zone: this.zone };
  }
}

/** A comment or a reply. */
export interface FeedItem {
  id: CausalId;
  /** The item this one replies to. */
  parent?: CausalId;
  body: unknown;
}

/**
 * One zone's view of a comment thread. Each broadcast carries the new item plus the most
 * recent `redundancy` items (redundant re-broadcast, so one lost message rarely loses an
 * item); arrivals are deduplicated by ID. A reply whose parent has not arrived yet is held
 * back, never shown before it.
 */
export class CausalFeed {
  readonly clock: CausalClock;
  private readonly items = new Map<string, FeedItem>();
  private readonly recent: FeedItem[] = [];

  constructor(
    readonly zone: string,
    private readonly redundancy = 8,
  ) {
    this.clock = new CausalClock(zone);
  }

  /** Posts a comment (or a reply to a visible item) and returns the message to broadcast. */
  post(body: unknown, parent?: CausalId): FeedItem[] {
    const item: FeedItem = { id: this.clock.next(), body, ...(parent ? { parent } : {}) };
    this.add(item);
    return this.outgoing();
  }

  /** The new item and the recent ones (what a broadcast carries). */
  outgoing(): FeedItem[] {
    return [...this.recent];
  }

  private add(item: FeedItem): boolean {
    const k = causalText(item.id);
    if (this.items.has(k)) return false;
    this.items.set(k, item);
    this.clock.observe(item.id);
    this.recent.push(item);
    if (this.recent.length > this.redundancy) this.recent.shift();
    return true;
  }

  /** Takes a broadcast; returns how many items were new (the rest were duplicates). */
  receive(items: readonly FeedItem[]): number {
    let fresh = 0;
    for (const it of items) if (this.add(it)) fresh++;
    return fresh;
  }

  has(id: CausalId): boolean {
    return this.items.has(causalText(id));
  }

  /** Every item held, shown or not. */
  all(): FeedItem[] {
    return [...this.items.values()].sort((a, b) => compareCausal(a.id, b.id));
  }

  /** What the zone shows: items in ID order, minus replies whose parent chain hasn't fully arrived. */
  visible(): FeedItem[] {
    const shown = new Set<string>();
    const out: FeedItem[] = [];
    for (const it of this.all()) {
      if (it.parent && !shown.has(causalText(it.parent))) continue;
      shown.add(causalText(it.id));
      out.push(it);
    }
    return out;
  }
}
