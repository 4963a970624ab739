/**
 * HMAC-SHA256 with WebCrypto (global `crypto.subtle` in browsers and Node ≥ 20), so the
 * browser build needs no node:crypto. Hex lower-case, as the server expects.
 */
const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    k = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
    ]);
    keys.set(secret, k);
  }
  return k;
}

export async function hmacSha256Hex(secret: string, text: string): Promise<string> {
  const sig = await crypto.subtle.sign('HMAC', await keyFor(secret), new TextEncoder().encode(text));
  let out = '';
  for (const b of new Uint8Array(sig)) out += b.toString(16).padStart(2, '0');
  return out;
}
