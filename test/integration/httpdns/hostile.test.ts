import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { request } from 'undici';
import { seededRandom } from '../../../src/core/random.ts';
import { startTestHttpdns } from './helpers.ts';

let t: Awaited<ReturnType<typeof startTestHttpdns>>;
before(async () => {
  t = await startTestHttpdns({ config: { rateLimit: { perSecond: 0, burst: 1 } } });
});
after(() => t.server.close());

const SEED = Number(process.env.SIM_SEED ?? 11);

async function status(path: string, init: Parameters<typeof request>[1] = {}) {
  const r = await request(`${t.base}${path}`, init);
  const text = await r.body.text();
  return { status: r.statusCode, text };
}

async function stillAnswers() {
  const r = await request(`${t.base}/d?host=api.shop.test&ip=1.2.4.8`);
  assert.equal(r.statusCode, 200);
  assert.equal(((await r.body.json()) as { dns: { ips: string[] }[] }).dns[0]!.ips[0], '127.0.3.1');
}

test('httpdns/hostile: bad base64, wrong content-type, oversized POST and huge targets are 4xx', async () => {
  assert.equal((await status('/dns-query?dns=!!!notbase64')).status, 400);
  assert.equal((await status('/dns-query?dns=AAAA====')).status, 400); // padding is not allowed
  assert.equal((await status('/dns-query')).status, 400);
  assert.equal((await status('/dns-query?dns=AAE')).status, 400); // too short for a DNS header
  const wrongType = await status('/dns-query', {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 'x',
  });
  assert.equal(wrongType.status, 415);
  assert.equal(JSON.parse(wrongType.text).code, 'UnsupportedMediaType');
  const big = await status('/dns-query', {
    method: 'POST',
    headers: { 'content-type': 'application/dns-message' },
    body: Buffer.alloc(70_000),
  });
  assert.equal(big.status, 413);
  const longTarget = await status(`/d?host=${'a'.repeat(9000)}`);
  assert.equal(longTarget.status, 414);
  const huge = await status(`/d?host=${'a'.repeat(20_000)}`);
  assert.ok(huge.status >= 400 && huge.status < 500, String(huge.status));
  const badReport = await status('/report', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{',
  });
  assert.equal(badReport.status, 400);
  await stillAnswers();
});

test('httpdns/hostile: random and mutated DNS messages never crash the server', async () => {
  const rnd = seededRandom(SEED);
  const good = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: 'api.shop.test' }] });
  const statuses = new Set<number>();
  for (let i = 0; i < 300; i++) {
    let msg: Buffer;
    if (i % 2 === 0) {
      msg = Buffer.from(good);
      for (let k = 0; k < 1 + rnd.int(4); k++) msg[rnd.int(msg.length)] = rnd.int(256);
    } else {
      msg = Buffer.alloc(rnd.int(64));
      for (let k = 0; k < msg.length; k++) msg[k] = rnd.int(256);
    }
    const useGet = rnd.next() < 0.5 && msg.length > 0;
    const r = useGet
      ? await status(`/dns-query?dns=${msg.toString('base64url')}`)
      : await status('/dns-query', {
          method: 'POST',
          headers: { 'content-type': 'application/dns-message' },
          body: msg,
        });
    assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `seed ${SEED} #${i}: ${r.status}`);
    statuses.add(r.status);
  }
  assert.ok(statuses.has(200) && statuses.has(400), `seed ${SEED}: ${[...statuses]}`);
  await stillAnswers();
});

test('httpdns/hostile: garbage on the socket is refused and the server carries on', async () => {
  await new Promise<void>((resolve) => {
    const s = connect(t.server.port, '127.0.0.1', () => s.end('\x00\x01GARBAGE\r\n\r\n'));
    s.on('data', () => {});
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
  await stillAnswers();
});

/** Writes raw bytes in pieces (each its own TCP write, 20 ms apart) and returns what came back. */
function rawExchange(pieces: (string | Buffer)[], opts: { closeAfter?: boolean } = {}): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const s = connect(t.server.port, '127.0.0.1', async () => {
      for (const p of pieces) {
        s.write(p);
        await new Promise((r) => setTimeout(r, 20));
      }
      if (opts.closeAfter) s.destroy();
    });
    s.on('data', (d) => {
      out += d.toString('latin1');
      if (out.includes('\r\n\r\n') && /content-length: (\d+)/i.test(out)) {
        const len = Number(/content-length: (\d+)/i.exec(out)![1]);
        if (Buffer.byteLength(out.slice(out.indexOf('\r\n\r\n') + 4), 'latin1') >= len) s.end();
      }
    });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
  });
}

test('httpdns/hostile: a DoH POST body that arrives in pieces is answered; a chunked one over the limit is 413; a client gone mid-body harms nothing', async () => {
  const q = dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'api.shop.test' }] });
  const head = `POST /dns-query HTTP/1.1\r\nhost: x\r\ncontent-type: application/dns-message\r\ncontent-length: ${q.length}\r\n\r\n`;
  const split = await rawExchange([head, q.subarray(0, 5), q.subarray(5, 12), q.subarray(12)]);
  assert.match(split, /^HTTP\/1\.1 200 /);
  const body = Buffer.from(split.slice(split.indexOf('\r\n\r\n') + 4), 'latin1');
  const reply = dnsPacket.decode(body);
  assert.equal(reply.id, 7);
  // the same query by GET, from the same client address, gets the same addresses
  const viaGet = await request(`${t.base}/dns-query?dns=${q.toString('base64url')}`);
  const getReply = dnsPacket.decode(Buffer.from(await viaGet.body.arrayBuffer()));
  const addrs = (reply.answers ?? []).map((a) => (a as { data: unknown }).data);
  assert.ok(addrs.length > 0);
  assert.deepEqual(
    addrs,
    (getReply.answers ?? []).map((a) => (a as { data: unknown }).data),
  );
  // no content-length: the limit is found while reading
  const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
  const chunkedHead =
    'POST /dns-query HTTP/1.1\r\nhost: x\r\ncontent-type: application/dns-message\r\ntransfer-encoding: chunked\r\n\r\n';
  const big = await rawExchange([chunkedHead, chunk(Buffer.alloc(40_000)), chunk(Buffer.alloc(40_000)), '0\r\n\r\n']);
  assert.match(big, /^HTTP\/1\.1 413 /);

  await rawExchange([head, q.subarray(0, 5)], { closeAfter: true });
  await stillAnswers();
});

test('httpdns/hostile: percent-encoded and repeated query parameters read as URLSearchParams reads them', async () => {
  const r = await request(`${t.base}/d?host=api%2Eshop.test&ip=1.2.4.8&host=other.test`);
  assert.equal(r.statusCode, 200);
  const j = (await r.body.json()) as { dns: { host: string; ips: string[] }[] };
  assert.equal(j.dns.length, 1);
  assert.equal(j.dns[0]!.host, 'api.shop.test');
  assert.equal(j.dns[0]!.ips[0], '127.0.3.1');
  const bad = await request(`${t.base}/d?host=api.shop.test&query=4%2C7`);
  assert.equal(bad.statusCode, 400);
  assert.equal(((await bad.body.json()) as { code: string }).code, 'InvalidQueryType');
});
