import type { ServerResponse } from 'node:http';
import type { NameTable } from '../names.ts';
import { type HandlerContext, readLimited, replyError } from '../reply.ts';
import { answerDnsMessage } from '../wire/doh.ts';

/** Largest DNS message (RFC 8484 bodies carry one message: at most 65535 bytes). */
const MAX_MESSAGE = 65_535;
/** Longest `dns=` value: the base64url form of the largest message. */
const MAX_DNS_PARAM = Math.ceil((MAX_MESSAGE * 4) / 3);

/**
 * RFC 8484 `/dns-query`: GET with `dns=` (base64url, no padding) or POST with an
 * `application/dns-message` body; answers `application/dns-message` with
 * Cache-Control max-age = the smallest TTL in the answer.
 */
export function createDohHandler(names: NameTable): (ctx: HandlerContext) => Promise<void> | void {
  const answer = (ctx: HandlerContext, query: Buffer) => {
    const r = answerDnsMessage(names, query, ctx.client);
    if (!r) return replyError(ctx.res, 400, 'InvalidMessage', 'not a DNS message');
    (ctx.res as ServerResponse).writeHead(200, {
      'content-type': 'application/dns-message',
      'content-length': r.body.length,
      'cache-control': `max-age=${r.ttl}`,
    });
    ctx.res.end(r.body);
  };
  return async (ctx) => {
    const { req, res } = ctx;
    if (req.method === 'GET' || req.method === 'HEAD') {
      const dns = ctx.params.get('dns');
      if (!dns) return replyError(res, 400, 'MissingArgument', 'dns is required');
      if (dns.length > MAX_DNS_PARAM || !/^[A-Za-z0-9_-]+$/.test(dns))
        return replyError(res, 400, 'InvalidBase64', 'dns must be base64url without padding');
      return answer(ctx, Buffer.from(dns, 'base64url'));
    }
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (type !== 'application/dns-message')
      return replyError(res, 415, 'UnsupportedMediaType', 'POST needs content-type application/dns-message');
    const body = await readLimited(req, MAX_MESSAGE);
    if (!body)
      return replyError(res, 413, 'PayloadTooLarge', 'a DNS message is at most 65535 bytes', { connection: 'close' });
    return answer(ctx, body);
  };
}
