/** Child process for the kill -9 test: writes objects into a ring store until it is killed. */
import { RingStore } from '../../../../src/edge/index.ts';

/** A body unique to object i (cheap to make, so the child spends its time writing). */
export function pattern(i: number, len: number): Buffer {
  return Buffer.alloc(len, Buffer.from([i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, 0xa5, 0x5a]));
}

export function lengthOf(i: number): number {
  return 1000 + ((i * 7919) % 300_000);
}

if (process.argv[2]) {
  const store = RingStore.open({ path: process.argv[2], sizeBytes: 8 << 20 });
  const start = Number(process.argv[3] ?? 0);
  for (let i = start; i < start + 1_000_000; i++) {
    const len = lengthOf(i);
    store.put(`k${i}`, Buffer.from(JSON.stringify({ i, len })), pattern(i, len));
    if (i === start + 20) process.stdout.write('ready\n');
  }
}
