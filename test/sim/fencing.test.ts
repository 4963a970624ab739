/**
 * Lease and fencing simulation: four zones, each with its own view of the shard map and its
 * own lease keeper over a partitionable handle on one Kv, a failover controller, a
 * ManualClock and a seeded Random. Partitions, kills, revivals, planned failovers and
 * failbacks happen at random while every zone keeps trying to write random shards.
 *
 * Invariant: a zone writes shard s only as the owner of the epoch it writes at, and never
 * after a newer epoch of s has become writable (no two writers, no stale epoch).
 * The seed is printed; SIM_SEED=n replays one run, SIM_REPEAT=n runs n seeds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.ts';
import { type Random, seededRandom } from '../../src/core/random.ts';
import { AuditLog, FailoverController } from '../../src/failover/index.ts';
import { LeaseKeeper, MemoryKv, PartitionableKv, ShardMap } from '../../src/shardmap/index.ts';
import { testTopology } from '../support/net.ts';
import { type Epoch, writeChecker } from '../support/write-check.ts';

const SHARDS = 32;
const topology = testTopology({
  extra: `
shards: { count: ${SHARDS} }
health: { enabled: false }
failover:
  after: 300
  leaseMs: 1000
  renewMs: 250
  skewMs: 50
  verdicts: direct
  check: { intervalMs: 50, timeoutMs: 50 }
  plannedTimeoutMs: 2000
`,
});
const ZONES = topology.zones.map((z) => z.name);

async function run(seed: number): Promise<{ writes: number; moves: number; events: string[] }> {
  const rnd: Random = seededRandom(seed);
  const clock = new ManualClock(0);
  const cfg = topology.config.failover;
  const kv = new MemoryKv();
  const auth = await new ShardMap(kv, SHARDS, clock).start();
  const history = new Map<number, Map<number, Epoch>>();
  for (let s = 0; s < SHARDS; s++) history.set(s, new Map());
  await kv.watch('map.', (e) => {
    if (!e.value || e.key === 'map.global') return;
    const v = JSON.parse(e.value) as { zone: string; epoch: number; notBefore: number };
    const h = history.get(Number(e.key.slice(4)))!;
    if (!h.has(v.epoch)) h.set(v.epoch, { zone: v.zone, at: clock.wallTime(), notBefore: v.notBefore });
  });
  await auth.init(topology.initialOwners().slice(0, SHARDS), topology.coreZone);
  await new Promise((r) => setImmediate(r));

  const killed = new Set<string>();
  const zones = new Map<string, { kv: PartitionableKv; view: ShardMap; keeper: LeaseKeeper }>();
  for (const z of ZONES) {
    const zkv = new PartitionableKv(kv, z);
    const view = await new ShardMap(zkv, SHARDS, clock).start();
    const keeper = new LeaseKeeper({
      kv: zkv,
      zone: z,
      clock,
      leaseMs: cfg.leaseMs,
      renewMs: cfg.renewMs,
      seen: () => view.revision,
    });
    view.attachLease(keeper);
    view.watch((c) => {
      if (c.owner.zone === z && c.owner.draining) void keeper.renewFresh();
    });
    await keeper.start();
    zones.set(z, { kv: zkv, view, keeper });
  }
  const controller = new FailoverController({
    topology,
    map: auth,
    audit: new AuditLog(kv, clock),
    clock,
    config: cfg,
    probe: async (z) => !killed.has(z) && !zones.get(z)!.kv.isolated,
  });
  controller.start();

  const events: string[] = [];
  const pick = <T>(xs: readonly T[]): T => xs[rnd.int(xs.length)]!;
  const faulty = () => ZONES.filter((z) => killed.has(z) || zones.get(z)!.kv.isolated);

  const { tryWrite, writes: writeCount } = writeChecker({ seed, clock, history, view: (z) => zones.get(z)!.view });

  for (let step = 0; step < 600; step++) {
    // scripted faults so every run has a partition and a kill; random ones on top
    const scripted =
      step === 40 ? 'partition' : step === 160 ? 'heal' : step === 260 ? 'kill' : step === 380 ? 'revive' : null;
    const roll = rnd.next();
    const ev =
      scripted ??
      (roll < 0.01
        ? 'partition'
        : roll < 0.02
          ? 'heal'
          : roll < 0.025
            ? 'kill'
            : roll < 0.035
              ? 'revive'
              : roll < 0.04
                ? 'planned'
                : roll < 0.05
                  ? 'failback'
                  : null);
    if (ev === 'partition' && faulty().length < 2) {
      const z = pick(ZONES.filter((x) => !faulty().includes(x)));
      zones.get(z)!.kv.setIsolated(true);
      events.push(`${clock.now()} partition ${z}`);
    } else if (ev === 'heal') {
      for (const z of ZONES) zones.get(z)!.kv.setIsolated(false);
      events.push(`${clock.now()} heal`);
    } else if (ev === 'kill' && faulty().length < 2) {
      const z = pick(ZONES.filter((x) => !faulty().includes(x)));
      killed.add(z);
      zones.get(z)!.keeper.stop();
      events.push(`${clock.now()} kill ${z}`);
    } else if (ev === 'revive' && killed.size) {
      for (const z of killed) void zones.get(z)!.keeper.start();
      events.push(`${clock.now()} revive ${[...killed].join(',')}`);
      killed.clear();
    } else if (ev === 'planned') {
      const z = pick(ZONES);
      events.push(`${clock.now()} planned failover ${z}`);
      controller.failover(z).catch(() => {});
    } else if (ev === 'failback') {
      const z = pick(ZONES);
      events.push(`${clock.now()} failback ${z}`);
      controller.failback(z).catch(() => {});
    }
    for (let k = 0; k < 6; k++) {
      const z = pick(ZONES);
      if (!killed.has(z)) tryWrite(z, rnd.int(SHARDS));
    }
    await clock.advanceAsync(25, 5);
  }

  // heal everything: every view converges on the authoritative map
  for (const z of ZONES) zones.get(z)!.kv.setIsolated(false);
  for (const z of killed) void zones.get(z)!.keeper.start();
  killed.clear();
  await clock.advanceAsync(3000, 25);
  for (const z of ZONES) {
    const v = zones.get(z)!.view;
    for (let s = 0; s < SHARDS; s++)
      assert.deepEqual(v.owner(s), auth.owner(s), `seed ${seed}: ${z}'s view of shard ${s} did not converge`);
  }
  controller.stop();
  for (const { keeper, view } of zones.values()) {
    keeper.stop();
    view.stop();
  }
  auth.stop();
  let moves = 0;
  for (const h of history.values()) moves += h.size - 1;
  return { writes: writeCount(), moves, events };
}

test('sim: no zone ever writes a shard it does not own at the current epoch (partitions, kills, lease expiry)', async () => {
  // fixed by default so CI is deterministic (STYLE §0.5); 1650793616 found an inherited-fence bug
  // (a planned move dropped a pending notBefore). Soak with SIM_REPEAT=n, or SIM_SEED=n to replay.
  const base = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 1650793616;
  const repeat = process.env.SIM_SEED ? 1 : Number(process.env.SIM_REPEAT ?? 3);
  for (let i = 0; i < repeat; i++) {
    const seed = base + i;
    console.log(`# sim seed ${seed} (replay: SIM_SEED=${seed} npm test -- test/sim)`);
    const r = await run(seed);
    console.log(`#   ${r.writes} writes, ${r.moves} shard moves; events: ${r.events.join('; ')}`);
    assert.ok(r.writes > 500, `seed ${seed}: too few writes (${r.writes}) to mean anything`);
    assert.ok(r.moves > 0, `seed ${seed}: no shard ever moved`);
  }
});
