import type { Zone } from '../topology/index.ts';

/**
 * Where a failed zone's shards go: its live backups, same region first; within the chosen
 * tier, shards are dealt out in proportion to capacity (smooth weighted round-robin, so
 * the result is deterministic). Returns shard → zone, or null when no backup is alive.
 *
 * Example: sh-a fails with backups [sh-b, bj-a, gz-a], sh-b alive → every shard to sh-b
 * (same region). If sh-b is down too, bj-a and gz-a (capacity 1000 each) get half each.
 */
export function planMoves(
  failed: Zone,
  shards: readonly number[],
  zones: readonly Zone[],
  alive: (zone: string) => boolean,
): Map<number, string> | null {
  const byName = new Map(zones.map((z) => [z.name, z]));
  const live = failed.backups.map((b) => byName.get(b)).filter((z): z is Zone => !!z && alive(z.name));
  if (live.length === 0) return null;
  const same = live.filter((z) => z.region === failed.region);
  const tier = same.length ? same : live;
  const total = tier.reduce((a, z) => a + z.capacity, 0);
  const credit = tier.map(() => 0);
  const out = new Map<number, string>();
  for (const s of shards) {
    let best = 0;
    tier.forEach((z, i) => {
      credit[i]! += z.capacity;
      if (credit[i]! > credit[best]!) best = i;
    });
    credit[best]! -= total;
    out.set(s, tier[best]!.name);
  }
  return out;
}

/** The zone that takes the global pseudo-shard (the core role): the first live backup, same region first. */
export function planGlobal(failed: Zone, zones: readonly Zone[], alive: (zone: string) => boolean): string | null {
  const byName = new Map(zones.map((z) => [z.name, z]));
  const live = failed.backups.map((b) => byName.get(b)).filter((z): z is Zone => !!z && alive(z.name));
  return (live.find((z) => z.region === failed.region) ?? live[0])?.name ?? null;
}
