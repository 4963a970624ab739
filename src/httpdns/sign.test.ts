import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hmacHex, signedString, verifySignature } from './sign.ts';

const SECRET = 'unit-secret-0123456789';
const NOW = 1_800_000_000_000;

test('httpdns/sign: the signed string is host-t and the signature its hex HMAC-SHA256', () => {
  assert.equal(signedString('a.test,b.test', '1800000600'), 'a.test,b.test-1800000600');
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
  assert.equal(
    hmacHex('Jefe', 'what do ya want for nothing?'),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
});

test('httpdns/sign: ok, expired, mismatch, too far ahead and malformed', () => {
  const t = String(NOW / 1000 + 600);
  const s = hmacHex(SECRET, signedString('a.test', t));
  assert.equal(verifySignature(SECRET, `a.test-${t}`, t, s, NOW), 'ok');
  assert.equal(verifySignature(SECRET, `a.test-${t}`, t, s.toUpperCase(), NOW), 'ok');
  assert.equal(verifySignature(SECRET, `b.test-${t}`, t, s, NOW), 'SignatureMismatch');
  const past = String(NOW / 1000 - 1);
  assert.equal(
    verifySignature(SECRET, `a.test-${past}`, past, hmacHex(SECRET, `a.test-${past}`), NOW),
    'SignatureExpired',
  );
  const far = String(NOW / 1000 + 86_401);
  assert.equal(verifySignature(SECRET, `a.test-${far}`, far, hmacHex(SECRET, `a.test-${far}`), NOW), 'SignatureTooFar');
  const edge = String(NOW / 1000 + 86_400);
  assert.equal(verifySignature(SECRET, `a.test-${edge}`, edge, hmacHex(SECRET, `a.test-${edge}`), NOW), 'ok');
  assert.equal(verifySignature(SECRET, 'a.test-x', 'x', s, NOW), 'InvalidSignature');
  assert.equal(verifySignature(SECRET, `a.test-${t}`, t, 'abc', NOW), 'InvalidSignature');
});
