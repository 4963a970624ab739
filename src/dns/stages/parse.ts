import type { DnsStage } from '../chain.ts';
import { findOpt, parseQuery, questionEndOf, RCODE } from '../wire/query.ts';
import { encodeReply } from '../wire/reply.ts';

/**
 * `parse`: validates the whole message and fills ctx.query. Packets without a usable
 * header, and responses, get no reply (answering them could loop or reflect); other
 * malformed queries get FORMERR, unknown opcodes NOTIMP (RFC 1035 §4.1.1). Either reply
 * carries an OPT when the query had one, even a malformed one (RFC 6891 §7: else resolvers
 * conclude we don't speak EDNS); the reply to another opcode copies RD but not CD, which
 * only means something in a QUERY.
 */
export const parseStage: DnsStage = {
  name: 'parse',
  create({ config }) {
    const max = config.maxUdpPayload;
    return (ctx, next) => {
      const raw = ctx.raw;
      const r = parseQuery(raw);
      if (r.ok) {
        ctx.query = r.query;
        ctx.qtype = r.query.qtype;
        return next(ctx);
      }
      ctx.rejected = r.reason;
      if (r.error === 'short' || r.error === 'response') return;
      const notimp = r.error === 'notimp';
      const found = findOpt(raw);
      ctx.rcode = notimp ? RCODE.NOTIMP : RCODE.FORMERR;
      ctx.reply = encodeReply({
        query: raw,
        // the opcode is checked before the question: echo it when it is well formed
        questionEnd: notimp ? questionEndOf(raw) : r.questionEnd,
        rcode: ctx.rcode,
        aa: false,
        opt: found === null ? null : { udpSize: max, do: found.do, options: [] },
        copyCd: !notimp,
      });
    };
  },
};
