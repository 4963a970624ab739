import { timingSafeEqual } from 'node:crypto';
import { HmacSha256 } from '../trust/index.ts';

/** Longest a signature may stay valid: an expiry further ahead is refused (SignatureTooFar). */
export const MAX_SIGNATURE_AHEAD_S = 86_400;

/**
 * The string a request signature covers: `${host}-${t}`, with `host` exactly as sent in the
 * query (comma-joined for several hosts, before URL encoding) and `t` the expiry in unix
 * seconds as sent. s = lower-case hex of HMAC-SHA256(secret, that string).
 */
export function signedString(host: string, t: string): string {
  return `${host}-${t}`;
}

/** Keyed HMACs of the secrets seen (the accounts'): the padded key blocks are made once per secret. */
const keyed = new Map<string, HmacSha256>();
/** More distinct secrets than any configuration holds: past it the map starts again. */
const MAX_KEYED = 256;

export function hmacHex(secret: string, text: string): string {
  let h = keyed.get(secret);
  if (!h) {
    if (keyed.size >= MAX_KEYED) keyed.clear();
    h = new HmacSha256(secret);
    keyed.set(secret, h);
  }
  return h.hex(text);
}

export type SignatureVerdict = 'ok' | 'SignatureExpired' | 'SignatureMismatch' | 'SignatureTooFar' | 'InvalidSignature';

/** Checks t (expiry, unix seconds) and s (hex HMAC) against the secret at wall time nowMs. */
export function verifySignature(secret: string, text: string, t: string, s: string, nowMs: number): SignatureVerdict {
  if (!/^\d{1,12}$/.test(t) || !/^[0-9a-fA-F]{64}$/.test(s)) return 'InvalidSignature';
  const expiry = Number(t);
  const now = Math.floor(nowMs / 1000);
  if (expiry < now) return 'SignatureExpired';
  if (expiry - now > MAX_SIGNATURE_AHEAD_S) return 'SignatureTooFar';
  const want = Buffer.from(hmacHex(secret, text), 'hex');
  const got = Buffer.from(s, 'hex');
  return got.length === want.length && timingSafeEqual(got, want) ? 'ok' : 'SignatureMismatch';
}
