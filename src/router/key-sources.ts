import type { KeySource } from '../topology/index.ts';
import { routerErrors } from './errors.ts';

/** Lazily parsed parts of a request the key sources read. */
export class RequestView {
  private cookies: Map<string, string> | undefined;
  private params: URLSearchParams | undefined;
  private segments: string[] | undefined;

  constructor(
    private readonly headers: Record<string, string | string[] | undefined>,
    readonly path: string,
    private readonly rawQuery: string,
  ) {}

  header(name: string): string | undefined {
    const v = this.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  cookie(name: string): string | undefined {
    if (!this.cookies) {
      this.cookies = new Map();
      const raw = this.header('cookie');
      if (raw)
        for (const part of raw.split(';')) {
          const i = part.indexOf('=');
          if (i <= 0) continue;
          const k = part.slice(0, i).trim();
          if (!this.cookies.has(k)) this.cookies.set(k, part.slice(i + 1).trim());
        }
    }
    return this.cookies.get(name);
  }

  query(name: string): string | undefined {
    if (!this.rawQuery) return undefined;
    this.params ??= new URLSearchParams(this.rawQuery);
    return this.params.get(name) ?? undefined;
  }

  /** The n-th path segment (0-based, after the leading '/'), percent-decoded. */
  segment(n: number): string | undefined {
    this.segments ??= this.path.split('/').slice(1);
    const s = this.segments[n];
    if (s === undefined || s === '') return undefined;
    try {
      return decodeURIComponent(s);
    } catch {
      throw routerErrors.ERR_ROUTER_BAD_KEY(`router/key: path segment ${n} is not valid percent-encoding`);
    }
  }
}

/** A compiled key source: the value it finds, or undefined. Throws ERR_ROUTER_BAD_KEY on hostile input. */
export type SourceReader = ((r: RequestView) => string | undefined) & { label: string };

/** Decodes a JWT's payload (not verified: routing only, never authentication) and reads a claim. */
export function jwtClaim(token: string, claim: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1])
    throw routerErrors.ERR_ROUTER_BAD_KEY('router/key: the JWT does not have three dot-separated parts');
  if (!/^[A-Za-z0-9_-]+$/.test(parts[1]))
    throw routerErrors.ERR_ROUTER_BAD_KEY('router/key: the JWT payload is not base64url');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch (e) {
    throw routerErrors.ERR_ROUTER_BAD_KEY('router/key: the JWT payload is not JSON', { cause: e });
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload))
    throw routerErrors.ERR_ROUTER_BAD_KEY('router/key: the JWT payload is not an object');
  const v = (payload as Record<string, unknown>)[claim];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return String(v);
  throw routerErrors.ERR_ROUTER_BAD_KEY(`router/key: JWT claim "${claim}" is not a string or number`);
}

/** The cookie a `{ jwt, from: cookie }` source reads the token from. */
export const JWT_COOKIE = 'jwt';

/** Compiles one topology key source into a reader. */
export function compileSource(src: KeySource): SourceReader {
  let fn: (r: RequestView) => string | undefined;
  let label: string;
  if ('header' in src) {
    const h = src.header.toLowerCase();
    fn = (r) => r.header(h);
    label = `header:${h}`;
  } else if ('cookie' in src) {
    const c = src.cookie;
    fn = (r) => r.cookie(c);
    label = `cookie:${c}`;
  } else if ('query' in src) {
    const q = src.query;
    fn = (r) => r.query(q);
    label = `query:${q}`;
  } else if ('path' in src) {
    const { path: n, prefix } = src;
    fn = (r) => (prefix && !r.path.startsWith(prefix) ? undefined : r.segment(n));
    label = `path:${n}`;
  } else {
    const { jwt: claim, from } = src;
    fn = (r) => {
      let token: string | undefined;
      if (from === 'cookie') token = r.cookie(JWT_COOKIE);
      else {
        const auth = r.header('authorization');
        if (auth && /^bearer\s+/i.test(auth)) token = auth.replace(/^bearer\s+/i, '').trim();
      }
      return token ? jwtClaim(token, claim) : undefined;
    };
    label = `jwt:${claim}`;
  }
  return Object.assign(
    (r: RequestView) => {
      const v = fn(r);
      return v === '' ? undefined : v;
    },
    { label },
  );
}
