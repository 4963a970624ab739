/**
 * `multizone drill --workload delivery` against the delivery service as real processes: four
 * zones' services and databases, Redis, `multizone up` with table replication (as
 * delivery.test.ts starts them, under this file's own database names and Redis prefix). A short
 * drill kills gz-a through the control API: no acknowledged order or transition is lost, no
 * dish is oversold, and the report has its delivery section.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { drillOutput } from '../../src/cli/cmd-drill.ts';
import { main } from '../../src/cli/main.ts';
import type { DrillReport } from '../../src/drill/index.ts';
import { pgAvailable } from '../../test/integration/replication/tables-support.ts';
import { startCli, stopCli } from '../../test/support/cli.ts';
import { DeliveryFixture, kill, redisAvailable, startService, ZONES } from './delivery-support.ts';

type Zone = (typeof ZONES)[number];
/** Short leases, as delivery.test.ts has them: a sold-out dish's unspent batches come back within the drill. */
const QUOTA = { batchFraction: 0.1, minBatch: 2, lowWater: 2, leaseMs: 2000, skewMs: 100, graceMs: 4000 };

const pgUp = await pgAvailable();
const redisUp = await redisAvailable();

describe('delivery drill: the delivery workload against four zones as real processes', {
  skip: !pgUp ? 'no PostgreSQL' : !redisUp && 'no Redis',
}, () => {
  const f = new DeliveryFixture('delivery_drill');
  const services: ChildProcess[] = [];
  let cli: Awaited<ReturnType<typeof startCli>> | undefined;

  before(async () => {
    await f.prepare();
    for (const z of ZONES)
      services.push(await startService(f.serviceEnv(z, { DELIVERY_QUOTA: JSON.stringify(QUOTA) }), f.apps[z]!));
    cli = await startCli(['up', '--config', f.writeTopology(), '--json'], { cwd: f.dir });
  });

  after(async () => {
    if (cli) await stopCli(cli.child);
    for (const s of services) await kill(s);
    await f.cleanUp();
  });

  it('delivery drill: gz-a killed under orders, transitions, limited dishes and menu edits: 0 lost, 0 oversold', async (t) => {
    const killed: Zone = 'gz-a';
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      [
        'drill',
        '--zone',
        killed,
        '--workload',
        'delivery',
        '--control',
        cli!.info.control,
        '--consistency',
        'available',
        '--duration',
        '8',
        '--rps',
        '80',
        '--writes',
        '0.6',
        '--users',
        '60',
        '--read-back-timeout',
        '60',
        '--json',
      ],
      { out: (s) => out.push(s), err: (s) => err.push(s) },
    );
    assert.equal(out.length, 1, err.join('\n'));
    const r = JSON.parse(out[0]!) as DrillReport;
    const d = r.delivery;
    assert.ok(d, 'the report has a delivery section');
    t.diagnostic(drillOutput(r, false));
    assert.equal(r.workload, 'delivery');
    assert.ok(d.orders.placed > 4, `orders placed: ${d.orders.placed}`);
    assert.ok(d.orders.transitions > 0, 'orders moved along');
    assert.ok(d.readBack.writes > 0);
    assert.equal(d.lost.writes, 0, JSON.stringify(d.lost.examples));
    assert.equal(r.lost, 0);
    assert.equal(d.oversold, 0, JSON.stringify(d.dishes));
    for (const x of d.dishes) assert.ok(x.stored !== null && x.stored <= x.stock, JSON.stringify(x));
    assert.ok(d.menu.edits > 1, 'the menu was edited during the drill');
    // looked at through every zone's router and edge; after the heal every one served the last edit
    assert.deepEqual(Object.keys(d.menu.byZone).sort(), [...ZONES.flatMap((z) => [z, `${z} edge`])].sort());
    assert.notEqual(d.menu.lastMs, null, JSON.stringify(d.menu));
    assert.notEqual(d.menu.afterHealMs, null, JSON.stringify(d.menu));
    assert.ok(r.users.affected > 0, `users homed in ${killed}`);
    assert.equal(r.restore?.restored, true);
    // the exit code follows the goals (RTO, lost, oversold); the figures are the report's
    assert.equal(code, r.goal.met ? 0 : 1);
    assert.match(drillOutput(r, false), /^delivery \(/m);
  });
});
