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
