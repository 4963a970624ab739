import { connect } from 'nats';
import { NatsKv } from '../../../src/shardmap/index.ts';
import { kvContract } from './kv.contract.ts';

const URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

kvContract('nats', async () => {
  try {
    const nc = await connect({ servers: URL.replace('nats://', ''), timeout: 1500 });
    await nc.close();
  } catch (e) {
    if (process.env.CI === 'true') throw new Error(`NATS at ${URL} is unreachable and CI=true: ${String(e)}`);
    console.log(`# skipping the NATS Kv contract: no NATS JetStream at ${URL} (set NATS_URL)`);
    return null;
  }
  const bucket = `mz_test_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const kv = await NatsKv.open({ url: URL, bucket });
  return {
    kv,
    cleanup: async () => {
      await kv.destroy().catch(() => {});
      await kv.close();
    },
  };
});
