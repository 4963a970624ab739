import type { DnsStage } from '../chain.ts';
import { parseQuery, RCODE } from '../wire/query.ts';
import { encodeReply } from '../wire/reply.ts';

/**
 * `parse`: validates the whole message and fills ctx.query. Packets without a usable
 * header, and responses, get no reply (answering them could loop or reflect); other
 * malformed queries get FORMERR, unknown opcodes NOTIMP (RFC 1035 §4.1.1).
 */
export const parseStage: DnsStage = {
  name: 'parse',
  create() {
    return (ctx, next) => {
      const r = parseQuery(ctx.raw);
      if (r.ok) {
        ctx.query = r.query;
        ctx.qtype = r.query.qtype;
        return next(ctx);
      }
      ctx.rejected = r.reason;
      if (r.error === 'short' || r.error === 'response') return;
      ctx.rcode = r.error === 'notimp' ? RCODE.NOTIMP : RCODE.FORMERR;
      ctx.reply = encodeReply({ query: ctx.raw, questionEnd: r.questionEnd, rcode: ctx.rcode, aa: false, opt: null });
    };
  },
};
