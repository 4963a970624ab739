import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import { HmacSha256, sha256Hex } from './hmac.ts';

test('trust/hmac: equals createHmac for short, long (past the scratch buffer), non-ASCII and empty texts and any key length', () => {
  const texts = [
    '',
    'MZ-AUTH-1\nGET\n/x\nsh-a\n1\nn\n',
    'x'.repeat(5000),
    'é€𝄞 zone 北京 ',
    `${'ü'.repeat(400)}${'a'.repeat(3000)}`,
  ];
  const keys = [
    Buffer.alloc(0),
    Buffer.alloc(32, 7),
    Buffer.alloc(64, 0xff),
    Buffer.alloc(65, 1),
    Buffer.alloc(200, 9),
  ];
  for (const key of keys) {
    const h = new HmacSha256(key);
    // twice each, in a changing order: the reused scratch must not carry one message into the next
    for (const t of [...texts, ...texts.reverse()])
      assert.equal(h.hex(t), createHmac('sha256', key).update(t).digest('hex'), `key ${key.length}, text ${t.length}`);
  }
  assert.equal(new HmacSha256('secret').hex('m'), createHmac('sha256', 'secret').update('m').digest('hex'));
});

test('trust/hmac: sha256Hex equals createHash for strings and bytes', () => {
  for (const d of ['', 'abc', Buffer.from([0, 1, 2, 255]), 'ü'.repeat(100)])
    assert.equal(sha256Hex(d), createHash('sha256').update(d).digest('hex'));
});
