/**
 * Child process of sqlite-kill.test.ts: writes to a zone's SQLite store as fast as it takes
 * them (puts and putManys at once, so commits group) and prints each acknowledged key
 * ("ack KEY") after its promise resolved, until it is killed.
 */
import { systemClock } from '../../../../src/core/clock.ts';
import { MemoryFence, SqliteStore } from '../../../../src/store/index.ts';
import { depsFor, storeTestTopology } from '../store.contract.ts';

const [file, startArg] = process.argv.slice(2);
const topology = storeTestTopology();
const fence = new MemoryFence(topology.initialOwners());
const store = new SqliteStore({ ...depsFor('sh-a', topology, fence, systemClock), file: file! });
const shard = topology.initialOwners().indexOf('sh-a');
let i = Number(startArg);
process.stdout.write('ready\n');
for (;;) {
  const k = i;
  i += 3;
  const keys = [`w${k}`, `w${k + 1}`, `w${k + 2}`];
  // three calls in one turn: one transaction with a savepoint each
  await Promise.all([
    store.put({ resource: 'profiles', key: keys[0]!, shard, epoch: 1, value: { k } }),
    store.putMany([
      { resource: 'profiles', key: keys[1]!, shard, epoch: 1, value: { k: k + 1 } },
      { resource: 'profiles', key: keys[2]!, shard, epoch: 1, value: { k: k + 2 } },
    ]),
  ]);
  process.stdout.write(`ack ${keys.join(' ')}\n`);
}
