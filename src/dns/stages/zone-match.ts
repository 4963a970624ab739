import type { DnsStage } from '../chain.ts';
import { RCODE } from '../wire/query.ts';
import { encodeReply } from '../wire/reply.ts';
import { QTYPE } from '../zone-data.ts';

/**
 * `zone-match`: we answer only for our apex and below, class IN. Anything else (other
 * names, CHAOS queries, zone transfers, names whose labels contain dots) is REFUSED.
 */
export const zoneMatchStage: DnsStage = {
  name: 'zone-match',
  create({ zone }) {
    return (ctx, next) => {
      const q = ctx.query!;
      if (!q.odd && q.qclass === 1 && q.qtype !== QTYPE.AXFR && q.qtype !== QTYPE.IXFR && zone.inZone(q.name))
        return next(ctx);
      ctx.rcode = RCODE.REFUSED;
      ctx.reply = encodeReply({
        query: ctx.raw,
        questionEnd: q.questionEnd,
        rcode: RCODE.REFUSED,
        aa: false,
        opt: ctx.replyOpt,
      });
    };
  },
};
