/**
 * The machine's PostgreSQL, NATS and Redis for integration tests. Unreachable → the test fails in CI
 * (CI=true) and is skipped with a message elsewhere.
 */
import { connect } from 'node:net';

const PORTS = { postgres: 5432, nats: 4222, redis: 6379 } as const;

export function pgUrl(): string {
  return process.env.MZ_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
}

export function natsUrl(): string {
  return process.env.MZ_TEST_NATS ?? '127.0.0.1:4222';
}

export function redisUrl(): string {
  return process.env.MZ_TEST_REDIS ?? 'redis://127.0.0.1:6379';
}

/** True when the service answers a TCP connect; in CI an unreachable service throws. */
export async function reachable(service: keyof typeof PORTS): Promise<boolean> {
  const ok = await new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: PORTS[service] });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (ok) return true;
  if (process.env.CI === 'true')
    throw new Error(`${service} is not reachable on 127.0.0.1:${PORTS[service]} (CI=true)`);
  console.log(`# SKIP: ${service} is not reachable on 127.0.0.1:${PORTS[service]}; its tests are skipped`);
  return false;
}
