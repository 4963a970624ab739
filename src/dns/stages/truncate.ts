import type { DnsStage } from '../chain.ts';
import { encodeReply } from '../wire/reply.ts';

/**
 * `truncate`: wraps the rest of the chain. A UDP reply larger than the asker's limit (512
 * without EDNS, else its buffer size clamped to maxUdpPayload) becomes the header and
 * question with TC=1 (RFC 2181 §9: don't send a partial RRset), so the client retries over
 * TCP. It sits outside the cache so cached replies are always whole.
 */
export const truncateStage: DnsStage = {
  name: 'truncate',
  create({ stats }) {
    return (ctx, next) => {
      next(ctx);
      const reply = ctx.reply;
      if (ctx.transport !== 'udp' || reply === null || reply.length <= ctx.udpLimit || ctx.query === null) return;
      stats.truncated++;
      const opt = ctx.replyOpt ? { udpSize: ctx.replyOpt.udpSize, do: ctx.replyOpt.do, options: [] } : null;
      ctx.reply = encodeReply({
        query: ctx.raw,
        questionEnd: ctx.query.questionEnd,
        rcode: Math.max(ctx.rcode, 0),
        aa: (reply[2]! & 0x04) !== 0,
        tc: true,
        opt,
      });
    };
  },
};
