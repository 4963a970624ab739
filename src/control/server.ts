import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenOn } from '../core/listen.ts';
import type { Registry } from '../core/metrics.ts';
import { controlErrors } from './errors.ts';
import { sendError, sendJson } from './http-json.ts';

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

  constructor(private readonly metrics: Registry) {
    this.route('GET', '/metrics', async (_req, _url, res) => {
      const text = await this.metrics.metrics();
      res.writeHead(200, { 'content-type': this.metrics.contentType });
      res.end(text);
    });
    this.route('GET', '/api', () => ({ routes: this.routes() }));
  }

  route(method: string, path: string, handler: ControlHandler): void {
    this.table.set(`${method.toUpperCase()} ${path}`, handler);
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

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await closeServer(s);
  }
}
