import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Req, Res } from './reply.ts';

const noop = () => {};
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

/**
 * Gives an HTTP/2 stream the small request/response surface our handlers use (url, method,
 * headers, socket, body events; writeHead, end, statusCode, headersSent, 'finish'). Node's
 * HTTP/2 compatibility layer does the same for every API and costs about half the
 * throughput of raw streams on this path (measured: ~11k vs ~20–30k DoH req/s on one core).
 */
export function streamToReqRes(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): [Req, Res] {
  stream.on('error', noop); // a reset stream must not become an uncaught 'error'
  const method = String(headers[':method'] ?? 'GET');
  const req = {
    url: String(headers[':path'] ?? '/'),
    method,
    headers,
    socket: stream.session?.socket,
    on(ev: string, fn: (...a: unknown[]) => void) {
      stream.on(ev, fn);
      return req;
    },
  };
  const res = {
    statusCode: 200,
    headersSent: false,
    writeHead(status: number, h: Record<string, string | number> = {}) {
      res.statusCode = status;
      if (stream.destroyed || stream.closed || res.headersSent) return res;
      const out: Record<string, string | number> = { ':status': status };
      // connection-specific headers are forbidden in HTTP/2 (RFC 9113 §8.2.2)
      for (const [k, v] of Object.entries(h)) if (!HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
      stream.respond(out);
      res.headersSent = true;
      return res;
    },
    end(body?: string | Buffer) {
      if (stream.destroyed || stream.closed) return res;
      if (!res.headersSent) res.writeHead(res.statusCode);
      if (method === 'HEAD' || body === undefined) stream.end();
      else stream.end(body);
      return res;
    },
    once(ev: string, fn: () => void) {
      stream.once(ev === 'finish' ? 'close' : ev, fn);
      return res;
    },
    destroy() {
      stream.destroy();
    },
  };
  return [req as unknown as Req, res as unknown as Res];
}
