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

/**
 * Maps an error to a JSON reply: PlatformErrors keep their code (and `status`, except that an
 * `ERR_*_UNAVAILABLE` — a database, log or session store that cannot be reached — is a 503:
 * not the caller's fault, worth retrying); anything else is a 500.
 */
export function sendError(res: ServerResponse, e: unknown, status = 400): void {
  if (isPlatformError(e))
    sendJson(res, /^ERR_\w+_UNAVAILABLE$/.test(e.code) ? 503 : status, { error: e.code, message: e.message });
  else sendJson(res, 500, { error: 'ERR_INTERNAL', message: 'internal error' });
}

/** Reads a request body up to limit bytes; rejects with a 413-worthy error beyond it. */
export function readBody(req: IncomingMessage, limit = 1 << 20): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
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
  try {
    Object.assign(out, JSON.parse(body));
  } catch {
    throw controlErrors.ERR_CONTROL_BAD_REQUEST('body must be JSON, e.g. {"zone":"sh-a"}');
  }
  return out;
}
