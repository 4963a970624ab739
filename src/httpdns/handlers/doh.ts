import type { ServerResponse } from 'node:http';
import type { DnsHandler } from '../../dns/index.ts';
import { type HandlerContext, readBody, replyError, replyFailure } from '../reply.ts';

/** Largest DNS message (RFC 8484 bodies carry one message: at most 65535 bytes). */
const MAX_MESSAGE = 65_535;
/** Longest `dns=` value: the base64url form of the largest message. */
const MAX_DNS_PARAM = Math.ceil((MAX_MESSAGE * 4) / 3);

/**
 * RFC 8484 `/dns-query`: GET with `dns=` (base64url, no padding) or POST with an
 * `application/dns-message` body; answers `application/dns-message` with
 * Cache-Control max-age = the smallest TTL in the answer. The message is answered by the
 * authoritative DNS handler (src/dns: the same stages, zone data and reply cache as UDP and
 * TCP; transport `doh`: never truncated, and padded when the query asks); the client is the
 * query's client subnet, else the HTTP client.
 */
export function createDohHandler(dns: DnsHandler): (ctx: HandlerContext) => Promise<void> | void {
  const answer = (ctx: HandlerContext, query: Buffer) => {
    const r = dns.answer(query, 'doh', ctx.client, 0);
    // no reply: too short for a header, or not a query (a response must not be answered)
    if (r.reply === null) return replyError(ctx.res, 400, 'InvalidMessage', 'not a DNS query message');
    (ctx.res as ServerResponse).writeHead(200, {
      'content-type': 'application/dns-message',
      'content-length': r.reply.length,
      'cache-control': `max-age=${Math.max(0, r.ttl)}`,
    });
    ctx.res.end(r.reply);
  };
  // not async: a GET is answered at once, a POST from its body's 'end' event
  return (ctx) => {
    const { req, res } = ctx;
    if (req.method === 'GET' || req.method === 'HEAD') {
      const dns = ctx.params.get('dns');
      if (!dns) return replyError(res, 400, 'MissingArgument', 'dns is required');
      if (dns.length > MAX_DNS_PARAM || !/^[A-Za-z0-9_-]+$/.test(dns))
        return replyError(res, 400, 'InvalidBase64', 'dns must be base64url without padding');
      return answer(ctx, Buffer.from(dns, 'base64url'));
    }
    const ct = req.headers['content-type'];
    const type =
      ct === 'application/dns-message'
        ? ct
        : String(ct ?? '')
            .split(';')[0]!
            .trim()
            .toLowerCase();
    if (type !== 'application/dns-message')
      return replyError(res, 415, 'UnsupportedMediaType', 'POST needs content-type application/dns-message');
    // answered from the body's 'end' event, without a promise or a microtask; the server
    // counts the answer when it finishes
    readBody(req, MAX_MESSAGE, (err, body) => {
      try {
        if (err) throw err;
        if (!body)
          replyError(res, 413, 'PayloadTooLarge', 'a DNS message is at most 65535 bytes', { connection: 'close' });
        else answer(ctx, body);
      } catch {
        replyFailure(res);
      }
    });
  };
}
