import type { DnsStage } from '../chain.ts';
import { ResponseRateLimiter } from '../rate-limiter.ts';
import { questionEndOf } from '../wire/query.ts';
import { encodeReply } from '../wire/reply.ts';

/**
 * `rrl`: per-source response-rate limiting on UDP (TCP cannot be spoofed, so it is never
 * limited). First in the chain so a flood costs one bucket lookup per packet. A limited
 * packet is dropped, except every Nth which "slips" out as an empty TC=1 reply: a real
 * client retries over TCP, a spoofed victim gets a reply no larger than the query.
 */
export const rrlStage: DnsStage = {
  name: 'rrl',
  create({ config, clock, stats }) {
    if (!config.rrl.enabled) return null;
    const limiter = new ResponseRateLimiter({
      responsesPerSecond: config.rrl.responsesPerSecond,
      burst: config.rrl.burst,
      slip: config.rrl.slip,
      now: () => clock.now(),
    });
    return (ctx, next) => {
      if (ctx.transport !== 'udp') return next(ctx);
      const verdict = limiter.check(ctx.address, ctx.now);
      if (verdict === 'send') return next(ctx);
      const raw = ctx.raw;
      // never reply to replies or to packets without a header
      if (verdict === 'drop' || raw.length < 12 || (raw[2]! & 0x80) !== 0) {
        stats.rrlDropped++;
        return;
      }
      stats.rrlSlipped++;
      ctx.reply = encodeReply({
        query: raw,
        questionEnd: questionEndOf(raw),
        rcode: 0,
        aa: false,
        tc: true,
        opt: null,
      });
      ctx.rcode = 0;
    };
  },
};
