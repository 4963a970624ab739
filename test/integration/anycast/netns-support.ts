/** What the anycast namespace tests share: their preconditions, polling, and the client's view. */
import assert from 'node:assert/strict';
import { findProgram } from '../../../src/anycast/index.ts';
import { run } from '../../../src/lab/netns.ts';

/** Why the namespace tests cannot run here, or undefined. */
export function netnsMissing(): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux (network namespaces)';
  const gone = ['bird', 'birdc', 'ip', 'dig'].filter((p) => !findProgram(p));
  return gone.length ? `missing ${gone.join(', ')} (apt-get install bird2 iproute2 bind9-dnsutils)` : undefined;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every `everyMs`, at most `tries` times; the elapsed time is reported, not asserted. */
export async function pollUntil(
  what: string,
  cond: () => Promise<boolean>,
  tries: number,
  everyMs: number,
): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < tries; i++) {
    if (await cond().catch(() => false)) return Math.round(performance.now() - t0);
    await sleep(everyMs);
  }
  assert.fail(`never happened: ${what}`);
}

/** Which zone a client in namespace `ns` reaches at `anycast` (id.server), or '' when none answers. */
export async function answeredAt(ns: string, anycast: string): Promise<string> {
  const r = await run(
    'ip',
    ['netns', 'exec', ns, 'dig', '+short', '+time=1', '+tries=1', `@${anycast}`, 'id.server', 'CH', 'TXT'],
    { allowFail: true },
  );
  return r.code === 0 ? r.stdout.trim().replace(/"/g, '') : '';
}
