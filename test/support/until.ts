import assert from 'node:assert/strict';

/**
 * Polls `cond` every `everyMs` until it holds, failing with `what` after `tries` polls (bounded
 * by a count of tries, not by reading a clock: tests never assert wall-clock times).
 */
export async function until(
  what: string,
  cond: () => Promise<boolean> | boolean,
  tries = 300,
  everyMs = 100,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  assert.fail(`never happened: ${what}`);
}
