import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { request } from 'undici';
import { startTestHttpdns } from './helpers.ts';

type Msg = dnsPacket.DecodedPacket & {
  rcode: string;
  flag_aa: boolean;
  answers?: (dnsPacket.Answer & { ttl?: number })[];
};

let t: Awaited<ReturnType<typeof startTestHttpdns>>;
before(async () => {
  t = await startTestHttpdns({ config: { rateLimit: { perSecond: 0, burst: 1 } } });
});
after(() => t.server.close());

function query(name: string, type: dnsPacket.RecordType, ecs?: { ip: string; prefix: number }): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 0,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: ecs
      ? [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: 4096,
            options: [{ code: 8, family: 1, sourcePrefixLength: ecs.prefix, scopePrefixLength: 0, ip: ecs.ip }],
          } as unknown as dnsPacket.Answer,
        ]
      : [],
  });
}

async function dohGet(q: Buffer) {
  const r = await request(`${t.base}/dns-query?dns=${q.toString('base64url')}`, {
    headers: { accept: 'application/dns-message' },
  });
  const body = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers, body, msg: dnsPacket.decode(body) as Msg };
}

async function dohPost(q: Buffer) {
  const r = await request(`${t.base}/dns-query`, {
    method: 'POST',
    headers: { 'content-type': 'application/dns-message', accept: 'application/dns-message' },
    body: q,
  });
  const body = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers, body, msg: dnsPacket.decode(body) as Msg };
}

test('httpdns/doh: GET and POST answer A from steering, with Cache-Control max-age = TTL', async () => {
  for (const ask of [dohGet, dohPost]) {
    const r = await ask(query('api.shop.test', 'A', { ip: '1.2.4.0', prefix: 24 }));
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/dns-message');
    assert.equal(r.headers['cache-control'], 'max-age=60');
    assert.equal(r.msg.rcode, 'NOERROR');
    assert.equal(r.msg.flag_aa, true);
    const a = r.msg.answers!.filter((x) => x.type === 'A');
    assert.equal((a[0] as { data: string }).data, '127.0.3.1');
    assert.equal((a[0] as { ttl?: number }).ttl, 60);
    // ECS echoed with a scope (RFC 7871)
    const opt = r.msg.additionals!.find((x) => x.type === 'OPT') as unknown as {
      options: { code: number; scopePrefixLength: number; sourcePrefixLength: number }[];
    };
    const ecs = opt.options.find((o) => o.code === 8)!;
    assert.equal(ecs.sourcePrefixLength, 24);
    assert.ok(ecs.scopePrefixLength > 0);
  }
  const gz = await dohPost(query('api.shop.test', 'A', { ip: '202.96.128.0', prefix: 24 }));
  assert.equal((gz.msg.answers![0] as { data: string }).data, '127.0.4.1');
});

test('httpdns/doh: AAAA, CNAME, TXT, SOA; NXDOMAIN under the apex, REFUSED outside, NODATA has the SOA', async () => {
  const six = await dohGet(query('api.shop.test', 'AAAA', { ip: '1.2.4.0', prefix: 24 }));
  assert.equal((six.msg.answers![0] as { data: string }).data, '2001:db8::3');
  const cname = await dohGet(query('www.shop.test', 'A'));
  assert.equal(cname.msg.answers![0]!.type, 'CNAME');
  assert.equal((cname.msg.answers![0] as { data: string }).data, 'api.shop.test');
  const txt = await dohGet(query('static.shop.test', 'TXT'));
  assert.equal(txt.msg.answers![0]!.type, 'TXT');
  assert.equal(txt.headers['cache-control'], 'max-age=300');
  const soa = await dohGet(query('shop.test', 'SOA'));
  assert.equal(soa.msg.answers![0]!.type, 'SOA');
  const nx = await dohGet(query('nope.shop.test', 'A'));
  assert.equal(nx.msg.rcode, 'NXDOMAIN');
  assert.equal(nx.msg.authorities![0]!.type, 'SOA');
  assert.equal(nx.headers['cache-control'], 'max-age=60');
  const empty = await dohGet(query('b.shop.test', 'A'));
  assert.equal(empty.msg.rcode, 'NOERROR');
  assert.equal(empty.msg.answers!.length, 0);
  const nodata = await dohGet(query('api.shop.test', 'MX'));
  assert.equal(nodata.msg.rcode, 'NOERROR');
  assert.equal(nodata.msg.answers!.length, 0);
  assert.equal(nodata.msg.authorities![0]!.type, 'SOA');
  const refused = await dohGet(query('example.com', 'A'));
  assert.equal(refused.msg.rcode, 'REFUSED');
});

test('httpdns/doh: a message with two questions is FORMERR, another opcode NOTIMP', async () => {
  const two = dnsPacket.encode({
    type: 'query',
    id: 7,
    questions: [
      { type: 'A', name: 'api.shop.test' },
      { type: 'A', name: 'static.shop.test' },
    ],
  });
  const r = await dohPost(two);
  assert.equal(r.msg.rcode, 'FORMERR');
  assert.equal(r.msg.id, 7);
  const notify = Buffer.from(query('api.shop.test', 'A'));
  notify.writeUInt16BE((notify.readUInt16BE(2) & ~0x7800) | (4 << 11), 2); // opcode NOTIFY
  assert.equal((await dohPost(notify)).msg.rcode, 'NOTIMP');
});

/** A query with an OPT carrying the Padding option (RFC 7830), padded to 128 octets as RFC 8467 asks of clients. */
function paddedQuery(name: string, type: dnsPacket.RecordType, id = 0): Buffer {
  const bare = query(name, type, { ip: '1.2.4.0', prefix: 24 });
  const fill = 128 - ((bare.length + 4) % 128);
  const q = Buffer.concat([bare, Buffer.from([0, 12, 0, fill]), Buffer.alloc(fill)]);
  // the OPT is the last record and its RDATA, the 11-byte ECS option of a /24, ends the message
  const rdlenAt = bare.length - 11 - 2;
  assert.equal(bare.readUInt16BE(rdlenAt), 11);
  q.writeUInt16BE(11 + 4 + fill, rdlenAt);
  assert.equal(q.length % 128, 0);
  q.writeUInt16BE(id, 0);
  return q;
}

test('httpdns/doh: a padded query gets a reply padded to a multiple of 468 octets (RFC 8467); others are not', async () => {
  for (const ask of [dohGet, dohPost])
    for (const [name, type] of [
      ['api.shop.test', 'A'],
      ['static.shop.test', 'TXT'],
      ['nope.shop.test', 'A'],
    ] as const) {
      const q = paddedQuery(name, type);
      const r = await ask(q);
      assert.equal(r.status, 200);
      assert.equal(r.body.length % 468, 0, `${name} ${type}: ${r.body.length} bytes`);
      const opt = r.msg.additionals!.find((a) => a.type === 'OPT') as unknown as { options: { code: number }[] };
      assert.ok(
        opt.options.some((o) => o.code === 12),
        'a Padding option',
      );
      assert.ok(
        opt.options.some((o) => o.code === 8),
        'the ECS echo stays',
      );
      // the same query without padding: no Padding option, the bare size
      const plain = await ask(query(name, type, { ip: '1.2.4.0', prefix: 24 }));
      const popt = plain.msg.additionals!.find((a) => a.type === 'OPT') as unknown as { options: { code: number }[] };
      assert.ok(!popt.options.some((o) => o.code === 12));
      assert.ok(plain.body.length < r.body.length);
      assert.deepEqual(plain.msg.answers, r.msg.answers);
    }
});

test('httpdns/resolve: Google/Cloudflare JSON with Status, Question, Answer and the ECS scope', async () => {
  const r = await request(`${t.base}/resolve?name=api.shop.test&type=A&edns_client_subnet=202.96.128.0/24`);
  assert.equal(r.statusCode, 200);
  assert.equal(r.headers['cache-control'], 'private, max-age=60');
  const j = (await r.body.json()) as Record<string, unknown> & {
    Answer: { name: string; type: number; TTL: number; data: string }[];
  };
  assert.equal(j.Status, 0);
  assert.equal(j.TC, false);
  assert.equal(j.RA, false);
  assert.deepEqual(j.Question, [{ name: 'api.shop.test.', type: 1 }]);
  assert.deepEqual(j.Answer[0], { name: 'api.shop.test.', type: 1, TTL: 60, data: '127.0.4.1' });
  assert.match(String(j.edns_client_subnet), /^202\.96\.128\.0\/\d+$/);
  const nx = (await (await request(`${t.base}/resolve?name=nope.shop.test`)).body.json()) as {
    Status: number;
    Authority: { type: number; data: string }[];
  };
  assert.equal(nx.Status, 3);
  assert.equal(nx.Authority[0]!.type, 6);
  assert.match(nx.Authority[0]!.data, /^ns1\.shop\.test\. hostmaster\.shop\.test\. 1 /);
  const refused = (await (await request(`${t.base}/resolve?name=example.com&type=28`)).body.json()) as {
    Status: number;
  };
  assert.equal(refused.Status, 5);
  const txt = (await (await request(`${t.base}/resolve?name=static.shop.test&type=TXT`)).body.json()) as {
    Answer: { data: string }[];
  };
  assert.equal(txt.Answer[0]!.data, '"v=1"');
  const dj = await request(`${t.base}/resolve?name=api.shop.test`, { headers: { accept: 'application/dns-json' } });
  assert.match(String(dj.headers['content-type']), /^application\/dns-json/);
  await dj.body.dump();
  for (const [q, code] of [
    ['', 'MissingArgument'],
    ['name=api.shop.test&type=BOGUS', 'InvalidType'],
    ['name=api.shop.test&edns_client_subnet=1.2.3.4/99', 'InvalidSubnet'],
    ['name=a..b', 'InvalidName'],
  ] as const) {
    const b = await request(`${t.base}/resolve?${q}`);
    assert.equal(b.statusCode, 400, q);
    assert.equal(((await b.body.json()) as { code: string }).code, code);
  }
});
