import { randomFillSync, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { HEADER_PREFIX, HEADERS } from '../shardmap/index.ts';
import { trustErrors } from './errors.ts';
import { HmacSha256, sha256Hex } from './hmac.ts';

/** Accepted clock difference between the signing and the verifying zone (ms), either way. */
export const DEFAULT_SKEW_MS = 30_000;

/**
 * Most nonces remembered at once (a process's zones share one cache); beyond it a request is
 * refused ('busy') rather than a replay let through. A nonce lives 30 s past its timestamp, so
 * 1,000,000 allows ~33,000 zone-to-zone requests a second into one process (≈100 MB at the cap).
 */
export const DEFAULT_MAX_NONCES = 1_000_000;

/** The smallest secret accepted (bytes). */
export const MIN_SECRET_BYTES = 32;

/** What is signed: the request line, the routing headers and the body. */
export interface SignableRequest {
  method: string;
  /** Path and query exactly as sent on the request line (`/internal/x?a=1`). */
  target: string;
  /** Request headers; only `x-multizone-*` ones (not the auth header itself) are signed. */
  headers: Readonly<Record<string, string | string[] | number | undefined>>;
  /** The body bytes; absent or null is the empty body. */
  body?: Uint8Array | string | null | undefined;
}

/** Why a verification failed (the `reason` of a 401). */
export type VerifyFailure = 'missing' | 'malformed' | 'expired' | 'replayed' | 'signature' | 'busy';

/** A verified request: the zone that signed it. */
export interface Verified {
  zone: string;
}

export interface RequestSignerOptions {
  /** The per-cluster secret (≥ 32 bytes), the same in every zone. */
  secret: Uint8Array;
  /** The zone this process signs as (`sh-a`, or `cluster` for tools). */
  zone: string;
  clock: Clock;
  /** Accepted skew (ms); default 30 s. */
  skewMs?: number;
  maxNonces?: number;
  /** 128-bit nonce source (hex); default crypto random. */
  nonce?: () => string;
}

const EMPTY_SHA256 = sha256Hex('');
const AUTH_RE = /^v1 z=([a-z][a-z0-9-]{0,62}) t=(\d{1,15}) n=([0-9a-f]{32}) s=([0-9a-f]{64})$/;

/**
 * Signs and verifies zone-to-zone requests: HMAC-SHA256 over method, target, the
 * `x-multizone-*` headers, a SHA-256 of the body, a wall-clock timestamp and a nonce, sent as
 * `x-multizone-auth: v1 z=<zone> t=<ms> n=<nonce> s=<hmac>`. Verification accepts ±skewMs and
 * refuses a nonce seen within the window (replay), with a nonce cache bounded by the window.
 */
export class RequestSigner {
  readonly zone: string;
  private readonly secret: Buffer;
  private readonly hmac: HmacSha256;
  private readonly clock: Clock;
  private readonly skewMs: number;
  private readonly maxNonces: number;
  private readonly nonce: () => string;
  /** nonce → wall ms after which it can be forgotten; insertion order ≈ time order. */
  private readonly seen: Map<string, number>;

  constructor(opts: RequestSignerOptions, seen?: Map<string, number>) {
    this.seen = seen ?? new Map();
    if (opts.secret.length < MIN_SECRET_BYTES)
      throw trustErrors.ERR_TRUST_BAD_SECRET(
        `trust: the cluster secret has ${opts.secret.length} bytes; at least ${MIN_SECRET_BYTES} are needed`,
      );
    this.secret = Buffer.from(opts.secret);
    this.hmac = new HmacSha256(this.secret);
    this.zone = opts.zone;
    this.clock = opts.clock;
    this.skewMs = opts.skewMs ?? DEFAULT_SKEW_MS;
    this.maxNonces = opts.maxNonces ?? DEFAULT_MAX_NONCES;
    this.nonce = opts.nonce ?? pooledNonces();
  }

  /** A signer for another zone name with the same secret and clock, sharing this one's nonce cache. */
  as(zone: string): RequestSigner {
    return new RequestSigner(
      {
        secret: this.secret,
        zone,
        clock: this.clock,
        skewMs: this.skewMs,
        maxNonces: this.maxNonces,
        nonce: this.nonce,
      },
      this.seen,
    );
  }

  /**
   * What rebuilds this signer in another process of the same zone (a router worker, over
   * IPC): the secret, the zone, the skew and the nonce bound. That process keeps its own
   * nonce cache, as every process does.
   */
  transferable(): Omit<RequestSignerOptions, 'clock' | 'nonce'> {
    return { secret: this.secret, zone: this.zone, skewMs: this.skewMs, maxNonces: this.maxNonces };
  }

  /** The `x-multizone-auth` value for this request (sign after every other x-multizone-* header is set). */
  sign(req: SignableRequest): string {
    const t = String(Math.floor(this.clock.wallTime()));
    const n = this.nonce();
    return `v1 z=${this.zone} t=${t} n=${n} s=${this.mac(req, this.zone, t, n)}`;
  }

  /** `headers` plus the auth header for this request. */
  signHeaders(
    method: string,
    target: string,
    headers: Record<string, string>,
    body?: Uint8Array | string | null,
  ): Record<string, string> {
    return { ...headers, [HEADERS.auth]: this.sign({ method, target, headers, body }) };
  }

  /** Checks `x-multizone-auth`; returns the signing zone or the reason it is refused. Never throws. */
  check(req: SignableRequest): Verified | VerifyFailure {
    const raw = req.headers[HEADERS.auth];
    if (raw === undefined) return 'missing';
    if (typeof raw !== 'string') return 'malformed';
    const m = AUTH_RE.exec(raw);
    if (!m) return 'malformed';
    const [, zone, t, n, s] = m as unknown as [string, string, string, string, string];
    const now = this.clock.wallTime();
    const at = Number(t);
    if (Math.abs(now - at) > this.skewMs) return 'expired';
    const want = Buffer.from(this.mac(req, zone, t, n), 'hex');
    if (!timingSafeEqual(want, Buffer.from(s, 'hex'))) return 'signature';
    // only a valid signature may take a nonce slot: junk cannot flush the cache
    this.forget(now);
    if (this.seen.has(n)) return 'replayed';
    if (this.seen.size >= this.maxNonces) return 'busy';
    // a nonce is refused until its timestamp is out of the window for good
    this.seen.set(n, at + this.skewMs);
    return { zone };
  }

  /** Like check(), but throws ERR_TRUST_BAD_SIGNATURE (details.reason) on failure. */
  verify(req: SignableRequest): Verified {
    const r = this.check(req);
    if (typeof r === 'string')
      throw trustErrors.ERR_TRUST_BAD_SIGNATURE(`trust: request not signed by a zone (${r})`, {
        details: { reason: r },
      });
    return r;
  }

  /** Nonces remembered now (for tests and metrics). */
  get nonces(): number {
    return this.seen.size;
  }

  private forget(now: number): void {
    // entries go in roughly by time; stop at the first live one (a late straggler waits its turn)
    for (const [n, until] of this.seen) {
      if (until >= now) break;
      this.seen.delete(n);
    }
  }

  private mac(req: SignableRequest, zone: string, t: string, n: string): string {
    // one text hashed at once: each update() would be a call into C++ (the bytes are the same)
    let text = `MZ-AUTH-1\n${req.method.toUpperCase()}\n${req.target}\n${zone}\n${t}\n${n}\n`;
    const h = req.headers;
    for (const [name, k] of routingHeaders(h)) {
      const v = h[k]!;
      text += `${name}:${Array.isArray(v) ? v.join(', ') : String(v)}\n`;
    }
    text += bodyDigest(req.body);
    return this.hmac.hex(text);
  }
}

/** Nonces drawn per crypto-random fill. */
const NONCES_PER_FILL = 256;

/**
 * 128-bit hex nonces, 256 of them per crypto-random fill: a randomBytes(16) per signed request
 * was half the cost of signing it (CPU profile of the router's forward hop). Every nonce is
 * still 16 fresh bytes from the CSPRNG, used once.
 */
function pooledNonces(): () => string {
  const pool = Buffer.allocUnsafe(16 * NONCES_PER_FILL);
  let at = pool.length;
  return () => {
    if (at === pool.length) {
      randomFillSync(pool);
      at = 0;
    }
    const n = pool.toString('hex', at, at + 16);
    at += 16;
    return n;
  };
}

const PREFIX_LEN = HEADER_PREFIX.length;

/**
 * The signed headers: every x-multizone-* except the auth header, with a value, as [lower-case
 * name, name as keyed in `headers`], sorted by the lower-case name. Only those names are
 * lowered (the request's other headers are looked at once, by their first letter).
 */
function routingHeaders(headers: SignableRequest['headers']): [string, string][] {
  const out: [string, string][] = [];
  for (const k in headers) {
    if (k.length <= PREFIX_LEN || (k.charCodeAt(0) | 0x20) !== 0x78) continue; // 'x' or 'X'
    const name = k.toLowerCase();
    if (!name.startsWith(HEADER_PREFIX) || name === HEADERS.auth || headers[k] === undefined) continue;
    out.push([name, k]);
  }
  if (out.length > 1) out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return out;
}

function bodyDigest(body: SignableRequest['body']): string {
  if (body === undefined || body === null || body.length === 0) return EMPTY_SHA256;
  return sha256Hex(body);
}

/** A per-cluster value derived from the secret (e.g. the edge admin token): stable, not the secret. */
export function deriveFromSecret(secret: Uint8Array, label: string): string {
  return new HmacSha256(secret).hex(`multizone derive ${label}`);
}
