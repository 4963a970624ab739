// Hostile HTTP over raw sockets to every zone's edge and router: bad framing, huge and many
// headers, CL/TE smuggling, bad methods and versions, invalid characters, slowloris-like
// partial requests (cut after a bounded wait), /internal tricks, bodies over the limit;
// interleaved with valid requests whose answers must be right. Nothing may crash, no hostile
// request may get an app's answer for an internal path, and the valid ones keep working.
// Seeded: FUZZ_SEED=<n> replays a run (the seed is logged first).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { silentLogger } from '../../../src/core/logger.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { isInternalPath } from '../../../src/trust/index.ts';
import { testTopology } from '../../support/net.ts';

const seed = Number(process.env.FUZZ_SEED ?? 0xf022);
const HOSTILE = 5000;
const VALID_EVERY = 16; // one valid request per 16 operations: 5000 / 15 ≈ 333 valid ones
const WORKERS = 24;
/** How long a hostile exchange may take before the client gives up (a slowloris never gets an answer). */
const GIVE_UP_MS = 400;
const MAX_BODY = 8192;

type Rnd = ReturnType<typeof seededRandom>;
interface Target {
  role: 'edge' | 'router';
  zone: string;
  host: string;
  port: number;
}
interface Hostile {
  kind: string;
  bytes: Buffer;
  /** Stop writing after this many bytes and hang up after a short wait (slowloris). */
  partial?: boolean;
  /** The request names an internal path: no app answer may come back. */
  internal?: boolean;
  /** A router's answer is checked: wait for it longer than GIVE_UP_MS (a busy machine may be slow). */
  answerMs?: number;
}

let cluster: RunningCluster;
let targets: Target[];

before(async () => {
  cluster = await startCluster({
    topology: testTopology({
      roles: ['app', 'router', 'edge'],
      extra: `shards:\n  count: 64\n  key:\n    - header: x-user-id\nrouter: { maxBodyBytes: ${MAX_BODY} }\nhealth: { enabled: false }\n`,
    }),
    logger: silentLogger,
    control: { host: '127.0.0.1', port: 0 },
  });
  targets = cluster.listeners
    .filter((l) => l.role === 'edge' || l.role === 'router')
    .map((l) => ({ role: l.role as Target['role'], zone: l.zone!, host: l.host, port: l.port }));
});
after(() => cluster.close());

const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[rnd.int(xs.length)]!;
const junk = (rnd: Rnd, n: number) => Buffer.from(Array.from({ length: n }, () => rnd.int(256)));
const printable = (rnd: Rnd, n: number) =>
  Array.from({ length: n }, () => String.fromCharCode(33 + rnd.int(94))).join('');

const INTERNAL = [
  '/internal/x',
  '/api/../internal/x',
  '/api/%2e%2e/internal/accounts/1',
  '/%69nternal/x',
  '//internal',
  '/INTERNAL?',
  '\\internal',
  '/%2569nternal/x',
  '/api%2f..%2finternal',
  '/api/..;/internal/x',
  'http://h/internal/x',
];

/** One hostile request, by kind. */
function hostile(rnd: Rnd): Hostile {
  const host = 'host: api.shop.test\r\n';
  const b = (s: string) => Buffer.from(s, 'latin1');
  const k = rnd.int(22);
  switch (k) {
    case 0:
      return { kind: 'garbage', bytes: Buffer.concat([junk(rnd, 1 + rnd.int(300)), b('\r\n\r\n')]) };
    case 1:
      return {
        kind: 'bad-method',
        bytes: b(
          `${pick(rnd, ['G@T', 'GET\x00', '', 'POST /', 'g e t', printable(rnd, 40), 'X'.repeat(5000)])} /api/x HTTP/1.1\r\n${host}\r\n`,
        ),
      };
    case 2:
      return {
        kind: 'bad-target',
        bytes: b(
          `GET ${pick(rnd, ['/a b', '/\x01', '/\x7f', '/\xff\xfe', 'noslash', '/%', '/%zz', '*', '/a#b', '/\t'])} HTTP/1.1\r\n${host}\r\n`,
        ),
      };
    case 3:
      return {
        kind: 'huge-header',
        bytes: b(`GET /api/x HTTP/1.1\r\n${host}x-big: ${'a'.repeat(17_000 + rnd.int(80_000))}\r\n\r\n`),
      };
    case 4:
      return {
        kind: 'many-headers',
        bytes: b(
          `GET /api/x HTTP/1.1\r\n${host}${Array.from({ length: 150 + rnd.int(300) }, (_, i) => `x-h${i}: ${i}\r\n`).join('')}\r\n`,
        ),
      };
    case 5: {
      // CL + TE: the classic request-smuggling shape, with an internal request hidden in the body
      const smuggled = `GET /internal/accounts/1 HTTP/1.1\r\n${host}\r\n`;
      return {
        kind: 'cl-te',
        internal: true,
        bytes: b(
          `POST /api/x HTTP/1.1\r\n${host}content-length: ${5 + rnd.int(40)}\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
        ),
      };
    }
    case 6:
      return {
        kind: 'te-obfuscated',
        bytes: b(
          `POST /api/x HTTP/1.1\r\n${host}transfer-encoding: ${pick(rnd, ['xchunked', ' chunked', 'chunked, identity', 'identity', 'chunked\r\ntransfer-encoding: x', 'CHUNKED '])}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
        ),
      };
    case 7:
      return {
        kind: 'dup-cl',
        bytes: b(
          `POST /api/x HTTP/1.1\r\n${host}content-length: 3\r\ncontent-length: ${4 + rnd.int(9)}\r\n\r\nabcdefgh`,
        ),
      };
    case 8:
      return {
        kind: 'bad-cl',
        bytes: b(
          `POST /api/x HTTP/1.1\r\n${host}content-length: ${pick(rnd, ['-1', '1e3', '0x10', '99999999999999999999999', ' 5 5', '+5', ''])}\r\n\r\nhello`,
        ),
      };
    case 9:
      return {
        kind: 'bad-chunk',
        bytes: b(
          `POST /api/x HTTP/1.1\r\n${host}transfer-encoding: chunked\r\n\r\n${pick(rnd, ['zz', 'fffffffffffffffffff', '-1', `5;${'x'.repeat(9000)}`, '3\r\nabcdef'])}\r\n`,
        ),
      };
    case 10:
      return {
        kind: 'bad-version',
        bytes: b(
          `GET /api/x ${pick(rnd, ['HTTP/9.9', 'HTTP/1.1x', 'HTTP/1', 'http/1.1', '', 'HTTP/1.1 extra'])}\r\n${host}\r\n`,
        ),
      };
    case 11:
      return {
        kind: 'bad-header-line',
        bytes: b(
          `GET /api/x HTTP/1.1\r\n${host}${pick(rnd, ['no-colon', 'bad name: x', ' folded: y', 'x: a\r\n  folded', ': empty', 'x-\x00: y', 'x: \x7f\x00'])}\r\n\r\n`,
        ),
      };
    case 12: {
      // slowloris: a request cut short, held open a little, then dropped
      const full = `GET /api/x HTTP/1.1\r\n${host}x-user-id: u${rnd.int(100)}\r\nx-slow: ${'s'.repeat(rnd.int(200))}\r\n\r\n`;
      return { kind: 'slowloris', partial: true, bytes: b(full.slice(0, 1 + rnd.int(full.length - 3))) };
    }
    case 13: {
      const path = pick(rnd, INTERNAL);
      const extra = pick(rnd, [
        '',
        'x-multizone-hop: 1\r\n',
        'x-multizone-auth: v1 z=sh-a t=1 n=0 s=0\r\n',
        'x-multizone-from: sh-b\r\n',
      ]);
      return {
        kind: 'internal',
        internal: true,
        bytes: b(`${pick(rnd, ['GET', 'POST', 'HEAD', 'PUT'])} ${path} HTTP/1.1\r\n${host}${extra}\r\n`),
      };
    }
    case 14:
      return {
        kind: 'too-large',
        answerMs: 10_000,
        bytes: b(
          `POST /api/x HTTP/1.1\r\n${host}x-user-id: u1\r\ncontent-length: ${MAX_BODY + 1 + rnd.int(1 << 20)}\r\n\r\n${'x'.repeat(rnd.int(2000))}`,
        ),
      };
    case 15:
      return { kind: 'bare-lf', bytes: b(`GET /api/x HTTP/1.1\n${host.replace('\r\n', '\n')}x-user-id: u2\n\n`) };
    case 16:
      return {
        kind: 'pipelined-junk',
        bytes: Buffer.concat([b(`GET /api/x HTTP/1.1\r\n${host}\r\n`), junk(rnd, 20 + rnd.int(200))]),
      };
    case 17:
      return {
        kind: 'absolute-form',
        bytes: b(
          `GET ${pick(rnd, ['http://', 'http://[::1/x', 'http://a:b:c/x', 'ftp://x/y', 'http://user@evil/x', 'http:///x'])} HTTP/1.1\r\n${host}\r\n`,
        ),
      };
    case 18:
      return {
        kind: 'expect',
        bytes: b(
          `POST /api/x HTTP/1.1\r\n${host}expect: ${pick(rnd, ['100-continue', 'junk'])}\r\ncontent-length: 4\r\n\r\n`,
        ),
        partial: rnd.int(2) === 0,
      };
    case 19:
      return {
        kind: 'upgrade',
        bytes: b(
          `GET /api/x HTTP/1.1\r\n${host}connection: upgrade\r\nupgrade: ${pick(rnd, ['websocket', 'h2c', 'x'])}\r\n\r\n`,
        ),
      };
    case 20:
      return {
        kind: 'no-host',
        bytes: b(
          `GET /api/x HTTP/1.1\r\nhost: ${pick(rnd, ['', 'a b', 'a:b:c', '[::1', 'x'.repeat(300)])}\r\nhost: dup\r\n\r\n`,
        ),
      };
    default:
      return { kind: 'h2-preface', bytes: b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') };
  }
}

/** Writes the bytes and reads what comes back until the head is complete, the peer closes, or GIVE_UP_MS. */
function exchange(t: Target, h: Hostile): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(t.port, t.host);
    let buf = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(buf);
    };
    const wait = h.partial ? 30 + (h.bytes.length % 70) : t.role === 'router' ? (h.answerMs ?? GIVE_UP_MS) : GIVE_UP_MS;
    const timer = setTimeout(finish, wait); // a test's own bound on a socket, not src/ time
    s.setEncoding('latin1');
    s.on('data', (d) => {
      buf += d;
      // the head and, when it says how much, the body: enough to judge the answer
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const cl = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end));
      if (!cl || buf.length - end - 4 >= Number(cl[1])) finish();
    });
    s.on('error', finish);
    s.on('close', finish);
    s.write(h.bytes);
  });
}

async function valid(rnd: Rnd, t: Target): Promise<string | undefined> {
  const user = `u${rnd.int(10_000)}`;
  const post = rnd.int(3) === 0;
  const path = `/api/users/${user}?n=${rnd.int(1000)}`;
  const body = post ? JSON.stringify({ n: rnd.int(1e6) }) : undefined;
  const r = await request(`http://${t.host}:${t.port}${path}`, {
    method: post ? 'POST' : 'GET',
    headers: { host: 'api.shop.test', 'x-user-id': user, ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const text = await r.body.text();
  if (r.statusCode !== 200) return `${t.role} ${t.zone} ${path}: ${r.statusCode} ${text.slice(0, 200)}`;
  const j = JSON.parse(text) as { path: string; method: string; zone: string };
  if (j.path !== path || j.method !== (post ? 'POST' : 'GET'))
    return `${t.role} ${t.zone} ${path}: wrong answer ${text}`;
  return undefined;
}

test(`runtime/http-fuzz: ${HOSTILE} hostile requests to edges and routers never crash them or spoil valid answers (seed ${seed})`, async () => {
  console.log(`# http fuzz seed=${seed} (FUZZ_SEED=${seed} replays it)`);
  const rnd = seededRandom(seed);
  const ops: ({ t: Target; h: Hostile } | { t: Target; valid: true })[] = [];
  for (let i = 0, hostiles = 0; hostiles < HOSTILE; i++) {
    const t = pick(rnd, targets);
    if (i % VALID_EVERY === VALID_EVERY - 1) ops.push({ t, valid: true });
    else {
      ops.push({ t, h: hostile(rnd) });
      hostiles++;
    }
  }
  const validCount = ops.filter((o) => 'valid' in o).length;
  assert.ok(validCount >= 250, `${validCount} valid requests`);
  const wrong: string[] = [];
  const leaks: string[] = [];
  const kinds = new Map<string, number>();
  let next = 0;
  const worker = async (w: number) => {
    const wr = seededRandom(seed + w + 1);
    while (next < ops.length) {
      const op = ops[next++]!;
      if ('valid' in op) {
        const e = await valid(wr, op.t);
        if (e) wrong.push(e);
        continue;
      }
      const out = await exchange(op.t, op.h);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(out)?.[1] ?? 'none';
      kinds.set(`${op.h.kind} ${status}`, (kinds.get(`${op.h.kind} ${status}`) ?? 0) + 1);
      // an app's answer (the echo app names the path it served) for an internal path is a leak
      const served = /"path":"((?:[^"\\]|\\.)*)"/.exec(out)?.[1];
      if (op.h.internal && served !== undefined && isInternalPath(JSON.parse(`"${served}"`)))
        leaks.push(`${op.t.role} ${op.t.zone} ${op.h.kind}: ${out.slice(0, 300)}`);
      if (op.h.kind === 'internal' && status === '200')
        leaks.push(`${op.t.role} ${op.t.zone}: 200 for ${op.h.bytes.toString('latin1').slice(0, 80)}`);
      if (op.h.kind === 'too-large' && op.t.role === 'router' && status !== '413')
        wrong.push(`router ${op.t.zone}: a body over maxBodyBytes got ${status}`);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  assert.deepEqual(leaks, [], 'no internal path reached an app');
  assert.deepEqual(wrong, [], 'every valid request was answered right');
  // still serving: a valid request to every edge and router after the storm
  for (const t of targets) assert.equal(await valid(rnd, t), undefined);
  const summary = [...kinds].sort().map(([k, n]) => `${k}:${n}`);
  assert.ok(summary.length > 20, summary.join(' '));
});
