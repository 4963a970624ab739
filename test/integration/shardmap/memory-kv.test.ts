import { MemoryKv, PartitionableKv } from '../../../src/shardmap/index.ts';
import { kvContract } from './kv.contract.ts';

kvContract('memory', async () => {
  const kv = new MemoryKv();
  return { kv, cleanup: () => kv.close() };
});

// a zone's partitionable handle must keep the contract while healed
kvContract('partitionable(memory)', async () => {
  const inner = new MemoryKv();
  return { kv: new PartitionableKv(inner, 'test'), cleanup: () => inner.close() };
});
