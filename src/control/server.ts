import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { closeServer, listenOn } from '../core/listen.ts';
import { type Registry, renderMetrics } from '../core/metrics.ts';
import { HEADERS } from '../shardmap/index.ts';
import type { RequestSigner } from '../trust/index.ts';
import { controlErrors } from './errors.ts';
import { preRead, readBody, sendError, sendJson } from './http-json.ts';

/**
 * Marks a call one process's control API forwards to another's (src/control/cluster-calls.ts):
 * signed with the cluster secret, answered from the receiving process's own zones only (never
 * forwarded again).
 */
export const FORWARDED_HEADER = HEADERS.forwarded;

/** A forwarded call: it carried FORWARDED_HEADER and its signature checked out (handle() refuses any other). */
export function isForwarded(req: IncomingMessage): boolean {
  return req.headers[FORWARDED_HEADER] !== undefined;
}

/** A control API handler: reply through res, or return a value to send as JSON 200. */
export type ControlHandler = (req: IncomingMessage, url: URL, res: ServerResponse) => unknown | Promise<unknown>;

/** The admin API every capability adds its routes to (`/api/...`). */
export interface ControlApi {
  route(method: string, path: string, handler: ControlHandler): void;
  /** Routes registered so far, for the index page. */
  routes(): { method: string; path: string }[];
}

/** The control HTTP server: JSON admin API, /metrics, and an index page. */
export class ControlServer implements ControlApi {
  private readonly table = new Map<string, ControlHandler>();
  private server?: Server;
  private adminToken = '';
  private signer: RequestSigner | undefined;
  private readonly closers: (() => void)[] = [];

  constructor(private readonly metrics: Registry) {
    this.route('GET', '/metrics', async (_req, _url, res) => {
      const text = await renderMetrics(this.metrics);
      res.writeHead(200, { 'content-type': this.metrics.contentType });
      res.end(text);
    });
    this.route('GET', '/api', () => ({ routes: this.routes() }));
  }

  route(method: string, path: string, handler: ControlHandler): void {
    this.table.set(`${method.toUpperCase()} ${path}`, handler);
  }

  /**
   * The admin token a browser's POST must present (`authorization: Bearer T`): a POST that
   * carries an Origin header comes from a page, and without the token it is a 401
   * ERR_CONTROL_UNAUTHORIZED. Empty: no browser POST is taken. Calls without an Origin (the
   * CLI, drills, other zones) are not asked for it.
   */
  setAdminToken(token: string | undefined): void {
    this.adminToken = token ?? '';
  }

  /**
   * The cluster's zone-to-zone signer: it signs the calls this process forwards to another's
   * control API and checks the ones forwarded here. Without one, a forwarded call is refused
   * (401) and none is made.
   */
  setSigner(signer: RequestSigner | undefined): void {
    this.signer = signer;
  }

  /** This process's signer (undefined when none is set). */
  zoneSigner(): RequestSigner | undefined {
    return this.signer;
  }

  /**
   * Calls a route in process, as if over HTTP, with `body` (JSON) for a POST; returns what the
   * handler returned and throws what it threw (an unknown route is ERR_CONTROL_NOT_FOUND).
   */
  async invoke(method: 'GET' | 'POST', pathAndQuery: string, body?: unknown): Promise<unknown> {
    const url = new URL(pathAndQuery, 'http://control');
    const h = this.table.get(`${method} ${url.pathname}`);
    if (!h) throw controlErrors.ERR_CONTROL_NOT_FOUND(`no route ${method} ${url.pathname}`);
    const req = Object.assign(Readable.from(body === undefined ? [] : [Buffer.from(JSON.stringify(body))]), {
      method,
      headers: {},
      url: pathAndQuery,
    }) as unknown as IncomingMessage;
    const res = { headersSent: false } as unknown as ServerResponse;
    return h(req, url, res);
  }

  /**
   * Calls a GET route in process, as if over HTTP (the console's snapshot reads the other
   * capabilities' routes this way, so it depends on none of them); undefined when there is
   * no such route or it fails.
   */
  async get(pathAndQuery: string): Promise<unknown> {
    const url = new URL(pathAndQuery, 'http://control');
    const h = this.table.get(`GET ${url.pathname}`);
    if (!h) return undefined;
    const req = { method: 'GET', headers: {}, url: pathAndQuery } as unknown as IncomingMessage;
    const res = { headersSent: false } as unknown as ServerResponse;
    try {
      return await h(req, url, res);
    } catch {
      return undefined;
    }
  }

  routes(): { method: string; path: string }[] {
    return [...this.table.keys()].map((k) => {
      const [method, path] = k.split(' ') as [string, string];
      return { method, path };
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://control');
    } catch {
      sendJson(res, 400, { error: controlErrors.ERR_CONTROL_BAD_REQUEST.code, message: 'bad request target' });
      return;
    }
    const h = this.table.get(`${req.method} ${url.pathname}`);
    if (h && isForwarded(req) && !(await this.verifyForwarded(req, res))) return;
    if (h && req.method === 'POST' && req.headers.origin !== undefined && !this.authorized(req)) {
      const e = controlErrors.ERR_CONTROL_UNAUTHORIZED(
        this.adminToken
          ? 'a POST from a browser (it sent an Origin header) needs authorization: Bearer <admin token>'
          : 'a POST from a browser (it sent an Origin header) is refused: the cluster has no admin token',
      );
      sendError(res, e, 401, { 'www-authenticate': 'Bearer realm="multizone control"' });
      return;
    }
    if (!h) {
      const allow = this.methodsOf(url.pathname);
      if (allow.length > 0) {
        const e = controlErrors.ERR_CONTROL_METHOD_NOT_ALLOWED(
          `${url.pathname} takes ${allow.join(', ')}, not ${req.method}`,
        );
        sendError(res, e, 405, { allow: allow.join(', ') });
      } else {
        const e = controlErrors.ERR_CONTROL_NOT_FOUND(`no route ${req.method} ${url.pathname}; see GET /api`);
        sendError(res, e, 404);
      }
      return;
    }
    try {
      const out = await h(req, url, res);
      if (!res.headersSent && out !== undefined) sendJson(res, 200, out);
    } catch (e) {
      if (res.headersSent) res.destroy();
      // a body cut off mid-way (too large to drain) leaves the connection unusable: say so
      else if ((e as { closeConnection?: unknown }).closeConnection === true)
        sendError(res, e, 400, { connection: 'close' });
      else sendError(res, e, 400);
    }
  }

  /**
   * A forwarded call must be signed by a zone of the cluster (over its method, target,
   * x-multizone-* headers and body): its body is read here to check it, and handed to the
   * route's readBody. False (the 401 sent) when it is not.
   */
  private async verifyForwarded(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    let body: Buffer;
    try {
      body = await readBody(req, 1 << 20);
    } catch (e) {
      sendError(res, e, 400, { connection: 'close' });
      return false;
    }
    const r = this.signer?.check({ method: req.method ?? 'GET', target: req.url ?? '/', headers: req.headers, body });
    if (r === undefined || typeof r === 'string') {
      const e = controlErrors.ERR_CONTROL_UNAUTHORIZED(
        `a forwarded control call must be signed by a zone of the cluster (${r ?? 'this process has no signer'})`,
      );
      sendError(res, e, 401);
      return false;
    }
    preRead(req, body);
    return true;
  }

  /** The request's bearer token is the admin token (compared in constant time). */
  private authorized(req: IncomingMessage): boolean {
    if (!this.adminToken) return false;
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const a = Buffer.from(m[1]!);
    const b = Buffer.from(this.adminToken);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** The methods registered for a path, sorted (the Allow header of a 405). */
  private methodsOf(path: string): string[] {
    return this.routes()
      .filter((r) => r.path === path)
      .map((r) => r.method)
      .sort();
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    this.server = server;
    return listenOn(server, host, port, 'control API');
  }

  /** Runs fn when the server closes, before the sockets go (the console ends its event streams). */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.closers.splice(0)) fn();
    const s = this.server;
    if (!s) return;
    await closeServer(s);
  }
}
