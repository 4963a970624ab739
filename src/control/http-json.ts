import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlatformError } from '../core/errors.ts';
import { controlErrors } from './errors.ts';

/** Sends a JSON body with the right headers. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Statuses of the control API's own codes; any other PlatformError takes the caller's status. */
const STATUS: ReadonlyMap<string, number> = new Map([
  [controlErrors.ERR_CONTROL_NOT_FOUND.code, 404],
  [controlErrors.ERR_CONTROL_METHOD_NOT_ALLOWED.code, 405],
  [controlErrors.ERR_CONTROL_BODY_TOO_LARGE.code, 413],
  [controlErrors.ERR_CONTROL_UNAUTHORIZED.code, 401],
  [controlErrors.ERR_CONTROL_BUSY.code, 409],
]);

/**
 * Maps an error to a JSON reply: PlatformErrors keep their code (and `status`, except that an
 * `ERR_*_UNAVAILABLE` — a database, log or session store that cannot be reached — is a 503:
 * not the caller's fault, worth retrying; and the control API's own not-found, method and
 * body-size codes are 404, 405 and 413); anything else is a 500.
 */
export function sendError(res: ServerResponse, e: unknown, status = 400, headers: Record<string, string> = {}): void {
  if (isPlatformError(e)) {
    const s = /^ERR_\w+_UNAVAILABLE$/.test(e.code) ? 503 : (STATUS.get(e.code) ?? status);
    sendJson(res, s, { error: e.code, message: e.message }, headers);
  } else sendJson(res, 500, { error: 'ERR_INTERNAL', message: 'internal error' }, headers);
}

/**
 * How much of an oversized body is read and thrown away so the 413 reaches the client (a
 * socket closed with unread data makes the kernel answer with a reset, and the client sees
 * ECONNRESET instead of the reply); beyond it the connection is cut.
 */
const DRAIN_BYTES = 8 << 20;

/** Bodies read before the route ran (a forwarded call's, to check its signature). */
const bodies = new WeakMap<IncomingMessage, Buffer>();

/** Hands a body already read to the route's readBody. */
export function preRead(req: IncomingMessage, body: Buffer): void {
  bodies.set(req, body);
}

/**
 * Reads a request body up to `limit` bytes. Beyond it, rejects with ERR_CONTROL_BODY_TOO_LARGE
 * (413) once the rest of the body has been read and discarded (up to DRAIN_BYTES more; past
 * that it rejects at once and the reply closes the connection).
 */
export function readBody(req: IncomingMessage, limit = 1 << 20): Promise<Buffer> {
  const kept = bodies.get(req);
  if (kept) {
    bodies.delete(req);
    if (kept.length > limit)
      return Promise.reject(
        controlErrors.ERR_CONTROL_BODY_TOO_LARGE(`request body is over ${limit} bytes`, { details: { limit } }),
      );
    return Promise.resolve(kept);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = () =>
      controlErrors.ERR_CONTROL_BODY_TOO_LARGE(`request body is over ${limit} bytes`, { details: { limit } });
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
      else if (size > limit + DRAIN_BYTES) {
        req.removeAllListeners('data');
        req.pause();
        reject(Object.assign(tooLarge(), { closeConnection: true }));
      } else chunks.length = 0; // draining: keep reading, keep nothing
    });
    req.on('end', () => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

/**
 * A control call's parameters: the query string, and for POST a JSON object body on top
 * (`?zone=sh-a` or `{"zone":"sh-a"}`). A body that is not JSON is the caller's error (400).
 */
export async function readParams(req: IncomingMessage, url: URL): Promise<Record<string, string>> {
  const out: Record<string, string> = Object.fromEntries(url.searchParams);
  if (req.method !== 'POST') return out;
  const body = (await readBody(req, 64 * 1024)).toString('utf8').trim();
  if (!body) return out;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw controlErrors.ERR_CONTROL_BAD_REQUEST('body must be JSON, e.g. {"zone":"sh-a"}');
  }
  // the parameters are names and words: an array, a number or a nested object is a mistake,
  // not something to coerce ({"zone":["sh-a"]} must not read as zone "sh-a")
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw controlErrors.ERR_CONTROL_BAD_REQUEST('body must be a JSON object, e.g. {"zone":"sh-a"}');
  for (const [k, v] of Object.entries(json)) {
    if (typeof v !== 'string')
      throw controlErrors.ERR_CONTROL_BAD_REQUEST(`${k} must be a string, not ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}
