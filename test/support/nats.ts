import { connect } from 'nats';

/** The NATS server the distributed adapters' tests use (NATS_URL, default the machine's). */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/**
 * True when NATS answers; false (the test skips, saying why) when it does not — except in CI
 * (CI=true), where a missing server fails the test instead of skipping it.
 */
export async function natsUp(url = NATS_URL): Promise<boolean> {
  try {
    const nc = await connect({ servers: url.replace('nats://', ''), timeout: 1500 });
    await nc.close();
    return true;
  } catch (e) {
    if (process.env.CI === 'true') throw new Error(`NATS at ${url} is unreachable and CI=true: ${String(e)}`);
    console.log(`# skipping: no NATS JetStream at ${url} (set NATS_URL)`);
    return false;
  }
}
