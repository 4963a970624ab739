import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type HeadLimits, parseRequestHead } from './request-head.ts';

const LIMITS: HeadLimits = { maxHeaderBytes: 16384, maxHeaders: 100, maxUrlBytes: 8192 };

function parse(s: string, limits = LIMITS) {
  return parseRequestHead(Buffer.from(s, 'latin1'), 0, limits);
}

function reason(s: string, limits = LIMITS): string {
  const r = parse(s, limits);
  return r.kind === 'handoff' ? r.reason : r.kind;
}

test('edge/request-head: a plain GET: method, target, lowercase fields, raw fields and the end offset', () => {
  const head = 'GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\nAccept-Encoding:  gzip, br \r\nX-Empty:\r\n\r\n';
  const r = parse(`${head}GET /next`);
  assert.equal(r.kind, 'request');
  if (r.kind !== 'request') return;
  assert.equal(r.method, 'GET');
  assert.equal(r.target, '/a?b=1');
  assert.deepEqual({ ...r.headers }, { host: 'shop.test', 'accept-encoding': 'gzip, br', 'x-empty': '' });
  assert.deepEqual(r.rawHeaders, ['Host', 'shop.test', 'Accept-Encoding', 'gzip, br', 'X-Empty', '']);
  assert.equal(r.close, false);
  assert.equal(r.end, Buffer.byteLength(head));
});

test('edge/request-head: HEAD, Connection: close and keep-alive', () => {
  const r = parse('HEAD / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n');
  assert.equal(r.kind === 'request' && r.method, 'HEAD');
  assert.equal(r.kind === 'request' && r.close, true);
  const k = parse('GET / HTTP/1.1\r\nHost: a\r\nconnection: keep-alive\r\n\r\n');
  assert.equal(k.kind === 'request' && k.close, false);
});

test('edge/request-head: pipelined requests parse one after another from the end offset', () => {
  const one = 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n';
  const two = 'HEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n';
  const buf = Buffer.from(one + two + one);
  const targets: string[] = [];
  let p = 0;
  while (p < buf.length) {
    const r = parseRequestHead(buf, p, LIMITS);
    assert.equal(r.kind, 'request');
    if (r.kind !== 'request') return;
    targets.push(`${r.method} ${r.target}`);
    p = r.end;
  }
  assert.deepEqual(targets, ['GET /1', 'HEAD /2', 'GET /1']);
});

test('edge/request-head: every prefix of a head is incomplete, never a request or a handoff', () => {
  const head = 'GET /a HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n';
  for (let n = 0; n < head.length; n++)
    assert.equal(reason(head.slice(0, n)), 'incomplete', JSON.stringify(head.slice(0, n)));
  assert.equal(reason(head), 'request');
});

// hostile and unusual input: each goes to node:http, which answers it as before
const HANDOFFS: [string, string, string][] = [
  ['POST', 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx', 'method'],
  ['lowercase method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n', 'method'],
  ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', 'method'],
  ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', 'method'],
  ['garbage', 'GARBAGE\r\n\r\n', 'method'],
  ['leading empty line', '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 'method'],
  ['absolute-form', 'GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n', 'target'],
  ['space in target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 'version'],
  ['fragment', 'GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n', 'target'],
  ['backslash', 'GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n', 'target'],
  ['control byte in target', 'GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n', 'target'],
  ['non-ASCII target', 'GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', 'target'],
  ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n', 'version'],
  ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'method'],
  ['HTTP/0.9', 'GET /\r\n\r\n', 'target'],
  ['bare LF after the request line', 'GET / HTTP/1.1\nHost: a\n\n', 'line-end'],
  ['bare LF in a field', 'GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n', 'line-end'],
  ['bare LF ending the head', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 'line-end'],
  ['bare CR in a field value', 'GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n', 'line-end'],
  ['bare CR ending the head', 'GET / HTTP/1.1\r\nHost: a\r\n\rX', 'line-end'],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n', 'obs-fold'],
  ['obs-fold with a tab', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n', 'obs-fold'],
  ['space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 'field-name'],
  ['empty field name', 'GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n', 'field-name'],
  ['field without a colon', 'GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n', 'field-name'],
  ['invalid name character', 'GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n', 'field-name'],
  ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n', 'field-value'],
  ['obs-text in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\n\r\n', 'field-value'],
  ['DEL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: \x7f\r\n\r\n', 'field-value'],
  ['Content-Length', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n', 'body'],
  ['two Content-Length', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'body'],
  ['Transfer-Encoding', 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'body'],
  ['CL and TE', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n', 'body'],
  ['obfuscated TE', 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n', 'body'],
  ['Upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 'connection'],
  ['Upgrade alone', 'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n', 'upgrade'],
  ['Expect', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n', 'expect'],
  ['Connection naming a field', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret\r\n\r\n', 'connection'],
  ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'duplicate'],
  ['a repeated field, any case', 'GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\naccept: y\r\n\r\n', 'duplicate'],
  ['no Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 'no-host'],
];

for (const [name, input, want] of HANDOFFS)
  test(`edge/request-head: ${name} goes to node:http (${want})`, () => {
    assert.equal(reason(input), want);
  });

test('edge/request-head: a field named __proto__ is an ordinary field', () => {
  const r = parse('GET / HTTP/1.1\r\nHost: a\r\n__proto__: x\r\n\r\n');
  const proto = '__proto__';
  assert.equal(r.kind === 'request' && r.headers[proto], 'x');
  assert.equal(Object.getPrototypeOf(r.kind === 'request' ? r.headers : {}), null);
});

test('edge/request-head: limits: an oversized head, too many fields or a long target go to node:http (431/414 there)', () => {
  const small = { maxHeaderBytes: 1024, maxHeaders: 8, maxUrlBytes: 64 };
  assert.equal(reason(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`, small), 'too-large');
  // still arriving, already over the limit: no need to wait for the rest
  assert.equal(reason(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(2000)}`, small), 'too-large');
  const many = Array.from({ length: 9 }, (_, i) => `X-${i}: v\r\n`).join('');
  assert.equal(reason(`GET / HTTP/1.1\r\nHost: a\r\n${many}\r\n`, small), 'too-large');
  assert.equal(reason(`GET /${'a'.repeat(100)} HTTP/1.1\r\nHost: a\r\n\r\n`, small), 'too-large');
  const exactly = Array.from({ length: 7 }, (_, i) => `X-${i}: v\r\n`).join('');
  assert.equal(reason(`GET / HTTP/1.1\r\nHost: a\r\n${exactly}\r\n`, small), 'request');
});

test('edge/request-head: a body after a GET head is the next request to parse, never skipped', () => {
  // no Content-Length: the bytes after the head are read as the next request, as node:http reads them
  const buf = Buffer.from('GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /smuggled HTTP/1.1\r\nHost: a\r\n\r\n');
  const r = parseRequestHead(buf, 0, LIMITS);
  assert.equal(r.kind, 'request');
  const next = parseRequestHead(buf, r.kind === 'request' ? r.end : 0, LIMITS);
  assert.deepEqual(next, { kind: 'handoff', reason: 'method' });
});
