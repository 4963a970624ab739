// A small notes service in plain Node (node:http, node:crypto; no multizone import): an
// external app behind multizone's router, following docs/app-contract.md. Notes live in this
// process's memory — a note written in a zone whose app is killed is gone (a drill counts it
// as lost) — or, with NOTES_PG set, in the zone's own PostgreSQL database (table `notes`,
// created at startup), which multizone's table replication (`replication.tables`) copies to
// the other zones. Configured by environment variables, the same ones as ../python/notes.py:
//   NOTES_ZONE (required)  NOTES_PORT (required)  NOTES_KEY_FILE (required)  NOTES_HOST (127.0.0.1)
//   NOTES_PG (a PostgreSQL URL: store there; the `pg` package must be installed)
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const zone = need('NOTES_ZONE');
const port = Number(need('NOTES_PORT'));
const host = process.env.NOTES_HOST || '127.0.0.1';
const key = Buffer.from(readFileSync(need('NOTES_KEY_FILE'), 'utf8').trim(), 'hex');
const SKEW_MS = 30_000;

const notes = process.env.NOTES_PG ? await pgNotes(process.env.NOTES_PG) : memoryNotes();
/** Shards this instance refuses with 421 ("not mine"), set through POST /internal/refuse?shard=N. */
const refused = new Set();
/** Nonces seen in the last SKEW_MS (nonce → expiry): a signed request is accepted once. */
const nonces = new Map();

/** Notes in memory: id → { text, version, zone, shard, epoch }. */
function memoryNotes() {
  const m = new Map();
  return {
    get: async (id) => m.get(id),
    /** Writes the note unless `ifMatch` names another version: { status, note } (409: the current version). */
    async put(id, n, ifMatch) {
      const have = m.get(id);
      const version = have?.version ?? 0;
      if (ifMatch !== undefined && String(version) !== ifMatch) return { status: 409, version };
      const note = { ...n, version: version + 1 };
      m.set(id, note);
      return { status: have ? 200 : 201, note };
    },
  };
}

/**
 * Notes in the zone's PostgreSQL. The table has a primary key and REPLICA IDENTITY FULL, as
 * table replication requires; a write to a note locked by a replication conflict fails with
 * SQLSTATE MZL01 and is answered 409 `locked`.
 */
async function pgNotes(url) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  pool.on('error', () => {});
  await pool.query(`CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, text text NOT NULL,
    version int NOT NULL, zone text NOT NULL, shard int, epoch int);
    ALTER TABLE notes REPLICA IDENTITY FULL`);
  const cols = 'text, version, zone, shard, epoch';
  return {
    get: async (id) => (await pool.query(`SELECT ${cols} FROM notes WHERE id = $1`, [id])).rows[0],
    async put(id, n, ifMatch) {
      try {
        // one statement: the version counts up in the database, If-Match is checked there
        const r = await pool.query(
          `INSERT INTO notes AS o (id, text, version, zone, shard, epoch) SELECT $1, $2, 1, $3, $4, $5
             WHERE $6::int IS NULL OR $6::int = 0
           ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text, version = o.version + 1, zone = EXCLUDED.zone,
             shard = EXCLUDED.shard, epoch = EXCLUDED.epoch WHERE $6::int IS NULL OR o.version = $6::int
           RETURNING ${cols}, xmax = 0 AS created`,
          [id, n.text, n.zone, n.shard, n.epoch, ifMatch === undefined ? null : Number(ifMatch)],
        );
        const row = r.rows[0];
        if (!row) {
          const have = await this.get(id);
          return { status: 409, version: have?.version ?? 0 };
        }
        const { created, ...note } = row;
        return { status: created ? 201 : 200, note };
      } catch (e) {
        if (e.code === 'MZL01') return { status: 409, locked: true };
        throw e;
      }
    },
  };
}

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

async function handle(req, res, body) {
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
    const n = await notes.get(id);
    return n ? send(res, 200, { id, ...n }) : send(res, 404, { error: 'no-such-note', id });
  }
  if (req.method === 'PUT' || req.method === 'POST') {
    // a write that expected another version is a conflict: the client reads and tries again
    const n = { text: body.toString('utf8'), zone, shard: Number(shard), epoch };
    const r = await notes.put(id, n, req.headers['if-match']);
    if (r.locked) return send(res, 409, { error: 'locked', id });
    if (r.status === 409) return send(res, 409, { error: 'conflict', id, version: r.version });
    return send(res, r.status, { id, ...r.note });
  }
  return send(res, 405, { error: 'method-not-allowed' });
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () =>
    handle(req, res, Buffer.concat(chunks)).catch((e) => {
      console.error(`notes: ${e.message}`);
      if (!res.headersSent) send(res, 503, { error: 'store-unavailable' });
    }),
  );
});
server.keepAliveTimeout = 60_000;
server.listen(port, host, () => console.log(`notes (node) for ${zone} on http://${host}:${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
