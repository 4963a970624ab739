import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frame, MAX_QUERY_FRAME, TcpFramer } from './tcp-framer.ts';

const msg = (n: number, fill: number) => Buffer.alloc(n, fill);

test('dns/tcp: frames split across chunks and several frames in one chunk', () => {
  const f = new TcpFramer();
  const a = frame(msg(20, 1));
  const b = frame(msg(13, 2));
  const c = frame(msg(300, 3));
  const all = Buffer.concat([a, b, c]);
  // one byte at a time
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i++) {
    const r = f.push(all.subarray(i, i + 1));
    assert.notEqual(r, 'garbage');
    out.push(...(r as Buffer[]));
  }
  assert.deepEqual(
    out.map((m) => [m.length, m[0]]),
    [
      [20, 1],
      [13, 2],
      [300, 3],
    ],
  );
  assert.equal(f.buffered, 0);
  // all at once
  assert.equal((new TcpFramer().push(all) as Buffer[]).length, 3);
});

test('dns/tcp: too short or too long frames are garbage', () => {
  assert.equal(new TcpFramer().push(Buffer.from([0, 3, 1, 2, 3])), 'garbage');
  assert.equal(new TcpFramer().push(Buffer.from([0, 0])), 'garbage');
  const big = Buffer.alloc(2);
  big.writeUInt16BE(MAX_QUERY_FRAME + 1);
  assert.equal(new TcpFramer().push(big), 'garbage');
  // a good frame followed by a bad length: still garbage (the connection closes)
  assert.equal(new TcpFramer().push(Buffer.concat([frame(msg(12, 0)), Buffer.from([0, 1])])), 'garbage');
});
