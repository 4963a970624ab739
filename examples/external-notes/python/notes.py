#!/usr/bin/env python3
"""A small notes service in Python (standard library: http.server, sqlite3, hmac): an
external app behind multizone's router, following docs/app-contract.md. Notes live in a SQLite
file per zone (NOTES_DB, default notes-<zone>.sqlite), so they survive a restart of the app,
or, with NOTES_PG set, in the zone's own PostgreSQL database (table `notes`, created at
startup; Debian's python3-psycopg2), which multizone's table replication
(`replication.tables`) copies to the other zones.
Configured by environment variables, the same ones as ../node/notes.mjs:
  NOTES_ZONE (required)  NOTES_PORT (required)  NOTES_KEY_FILE (required)  NOTES_HOST (127.0.0.1)
  NOTES_PG (a PostgreSQL URL or DSN: store there instead of SQLite)
"""
import hashlib
import hmac
import json
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def need(name):
    v = os.environ.get(name)
    if not v:
        print(f"notes: set {name}", file=sys.stderr)
        sys.exit(78)
    return v


ZONE = need("NOTES_ZONE")
PORT = int(need("NOTES_PORT"))
HOST = os.environ.get("NOTES_HOST", "127.0.0.1")
with open(need("NOTES_KEY_FILE")) as f:
    KEY = bytes.fromhex(f.read().strip())
DB = os.environ.get("NOTES_DB", f"notes-{ZONE}.sqlite")
SKEW_MS = 30_000
AUTH_RE = re.compile(r"^v1 z=(\S+) t=(\d+) n=([0-9a-f]{32}) s=([0-9a-f]{64})$")
NOTE_RE = re.compile(r"^/notes/([A-Za-z0-9._-]{1,128})$")

PG = os.environ.get("NOTES_PG")
if PG:
    import psycopg2  # Debian: python3-psycopg2

    pg = psycopg2.connect(PG)
    pg.autocommit = True
    with pg.cursor() as c:
        # a primary key and REPLICA IDENTITY FULL, as table replication requires
        c.execute(
            "CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, text text NOT NULL, version int NOT NULL,"
            " zone text NOT NULL, shard int, epoch int); ALTER TABLE notes REPLICA IDENTITY FULL"
        )

    def query(sql, args):
        with pg.cursor() as c:
            c.execute(sql.replace("?", "%s"), args)
            return c.fetchone() if c.description else None

else:
    db = sqlite3.connect(DB, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    # a committed note survives the app's process being killed; only a crash of the machine may lose the last ones
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, text TEXT, version INTEGER,"
        " zone TEXT, shard INTEGER, epoch INTEGER)"
    )

    def query(sql, args):
        return db.execute(sql, args).fetchone()


# both stores take this upsert (SQLite 3.24+ and PostgreSQL)
UPSERT = (
    "INSERT INTO notes (id, text, version, zone, shard, epoch) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET text = excluded.text, version = excluded.version,"
    " zone = excluded.zone, shard = excluded.shard, epoch = excluded.epoch"
)
lock = threading.Lock()
refused = set()  # shards answered with 421 ("not mine"), set through POST /internal/refuse?shard=N
nonces = {}  # nonce -> expiry (ms): a signed request is accepted once


def verify(method, target, headers, body):
    """The router's signature (x-multizone-auth), checked as docs/app-contract.md says; the zone or None."""
    m = AUTH_RE.match(headers.get("x-multizone-auth", ""))
    if not m:
        return None
    zone, t, n, s = m.groups()
    now = time.time() * 1000
    if abs(now - int(t)) > SKEW_MS:
        return None
    lines = "".join(
        f"{k}:{headers[k]}\n"
        for k in sorted(headers)
        if k.startswith("x-multizone-") and k != "x-multizone-auth"
    )
    msg = f"MZ-AUTH-1\n{method}\n{target}\n{zone}\n{t}\n{n}\n{lines}".encode()
    msg += hashlib.sha256(body).hexdigest().encode()
    want = hmac.new(KEY, msg, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, s):
        return None
    with lock:
        for k in [k for k, until in nonces.items() if until < now]:
            del nonces[k]
        if n in nonces:
            return None
        nonces[n] = int(t) + SKEW_MS
    return zone


class Notes(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the router keeps a pool of connections

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=None):
        text = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(text)))
        self.send_header("x-notes-zone", ZONE)
        self.send_header("x-notes-lang", "python")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(text)

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if url.path == "/healthz":
            return self.send(200, {"zone": ZONE, "ok": True})
        # admin routes on the app's own port: the router never passes /internal/* from a public client
        if url.path == "/internal/refuse" and "x-multizone-auth" not in headers:
            shard = int(parse_qs(url.query).get("shard", ["-1"])[0])
            with lock:
                if self.command == "DELETE":
                    refused.discard(shard)
                else:
                    refused.add(shard)
                return self.send(200, {"refused": sorted(refused)})
        if not verify(self.command, self.path, headers, body):
            return self.send(401, {"error": "bad-signature"})
        m = NOTE_RE.match(url.path)
        if not m:
            return self.send(404, {"error": "no-such-route"})
        nid = m.group(1)
        shard = headers.get("x-multizone-shard")
        epoch = int(headers.get("x-multizone-epoch", "0"))
        if shard is not None and int(shard) in refused:
            return self.send(421, {"error": "not-mine", "shard": int(shard)})
        with lock:
            row = query("SELECT text, version, zone, shard, epoch FROM notes WHERE id = ?", (nid,))
            have = dict(zip(["text", "version", "zone", "shard", "epoch"], row)) if row else None
            if self.command == "GET":
                if have:
                    return self.send(200, {"id": nid, **have})
                return self.send(404, {"error": "no-such-note", "id": nid})
            if self.command in ("PUT", "POST"):
                if_match = headers.get("if-match")
                version = have["version"] if have else 0
                # a write that expected another version is a conflict: the client reads and tries again
                if if_match is not None and str(version) != if_match:
                    return self.send(409, {"error": "conflict", "id": nid, "version": version})
                n = {
                    "text": body.decode("utf-8"),
                    "version": version + 1,
                    "zone": ZONE,
                    "shard": int(shard) if shard is not None else None,
                    "epoch": epoch,
                }
                try:
                    query(UPSERT, (nid, n["text"], n["version"], n["zone"], n["shard"], n["epoch"]))
                except Exception as e:  # a note locked by a replication conflict (SQLSTATE MZL01)
                    if getattr(e, "pgcode", None) == "MZL01":
                        return self.send(409, {"error": "locked", "id": nid})
                    raise
                return self.send(200 if have else 201, {"id": nid, **n})
        return self.send(405, {"error": "method-not-allowed"})

    do_GET = do_PUT = do_POST = do_DELETE = handle_any


ThreadingHTTPServer.request_queue_size = 128  # the listen backlog (5 by default)
server = ThreadingHTTPServer((HOST, PORT), Notes)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print(f"notes (python) for {ZONE} on http://{HOST}:{PORT}", flush=True)
server.serve_forever()
