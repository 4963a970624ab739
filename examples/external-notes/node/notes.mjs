// A small notes service in plain Node (node:http, node:crypto; no multizone import): an
// external app behind multizone's router, following docs/app-contract.md. Notes live in this
// process's memory, so a note written in a zone whose app is killed is gone (a drill counts it
// as lost). Configured by environment variables, the same ones as ../python/notes.py:
//   NOTES_ZONE (required)  NOTES_PORT (required)  NOTES_KEY_FILE (required)  NOTES_HOST (127.0.0.1)
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const zone = need('NOTES_ZONE');
const port = Number(need('NOTES_PORT'));
const host = process.env.NOTES_HOST || '127.0.0.1';
const key = Buffer.from(readFileSync(need('NOTES_KEY_FILE'), 'utf8').trim(), 'hex');
const SKEW_MS = 30_000;

/** id → { text, version, zone, shard, epoch } */
const notes = new Map();
/** Shards this instance refuses with 421 ("not mine"), set through POST /internal/refuse?shard=N. */
const refused = new Set();
/** Nonces seen in the last SKEW_MS (nonce → expiry): a signed request is accepted once. */
const nonces = new Map();

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`notes: set ${name}`);
    process.exit(78);
  }
  return v;
}

/** The router's signature (x-multizone-auth), checked as docs/app-contract.md says; the signing zone or null. */
function verify(req, body) {
  const m = /^v1 z=(\S+) t=(\d+) n=([0-9a-f]{32}) s=([0-9a-f]{64})$/.exec(req.headers['x-multizone-auth'] ?? '');
  if (!m) return null;
  const [, z, t, n, s] = m;
  const now = Date.now();
  if (Math.abs(now - Number(t)) > SKEW_MS) return null;
  const lines = Object.keys(req.headers)
    .filter((k) => k.startsWith('x-multizone-') && k !== 'x-multizone-auth')
    .sort()
    .map((k) => `${k}:${req.headers[k]}\n`)
    .join('');
  const mac = createHmac('sha256', key)
    .update(`MZ-AUTH-1\n${req.method}\n${req.url}\n${z}\n${t}\n${n}\n${lines}`)
    .update(createHash('sha256').update(body).digest('hex'))
    .digest();
  if (!timingSafeEqual(mac, Buffer.from(s, 'hex'))) return null;
  for (const [k, until] of nonces) if (until < now) nonces.delete(k);
  if (nonces.has(n)) return null;
  nonces.set(n, Number(t) + SKEW_MS);
  return z;
}

function send(res, status, body, headers = {}) {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-notes-zone': zone,
    'x-notes-lang': 'node',
    ...headers,
  });
  res.end(text);
}

function handle(req, res, body) {
  const url = new URL(req.url, 'http://app');
  if (url.pathname === '/healthz') return send(res, 200, { zone, ok: true });
  // admin routes on the app's own port: the router never passes /internal/* from a public client
  if (url.pathname === '/internal/refuse' && !req.headers['x-multizone-auth']) {
    const shard = Number(url.searchParams.get('shard'));
    if (req.method === 'DELETE') refused.delete(shard);
    else refused.add(shard);
    return send(res, 200, { refused: [...refused] });
  }
  const signedBy = verify(req, body);
  if (!signedBy) return send(res, 401, { error: 'bad-signature' });
  const m = /^\/notes\/([A-Za-z0-9._-]{1,128})$/.exec(url.pathname);
  if (!m) return send(res, 404, { error: 'no-such-route' });
  const id = m[1];
  const shard = req.headers['x-multizone-shard'];
  const epoch = Number(req.headers['x-multizone-epoch'] ?? 0);
  if (shard !== undefined && refused.has(Number(shard)))
    return send(res, 421, { error: 'not-mine', shard: Number(shard) });
  if (req.method === 'GET') {
    const n = notes.get(id);
    return n ? send(res, 200, { id, ...n }) : send(res, 404, { error: 'no-such-note', id });
  }
  if (req.method === 'PUT' || req.method === 'POST') {
    const have = notes.get(id);
    const ifMatch = req.headers['if-match'];
    // a write that expected another version is a conflict: the client reads and tries again
    if (ifMatch !== undefined && String(have?.version ?? 0) !== ifMatch)
      return send(res, 409, { error: 'conflict', id, version: have?.version ?? 0 });
    const n = { text: body.toString('utf8'), version: (have?.version ?? 0) + 1, zone, shard: Number(shard), epoch };
    notes.set(id, n);
    return send(res, have ? 200 : 201, { id, ...n });
  }
  return send(res, 405, { error: 'method-not-allowed' });
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks)));
});
server.keepAliveTimeout = 60_000;
server.listen(port, host, () => console.log(`notes (node) for ${zone} on http://${host}:${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
