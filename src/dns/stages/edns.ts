import type { DnsStage } from '../chain.ts';
import { OPTION_ECS, parseEcs } from '../wire/ecs.ts';
import { RCODE } from '../wire/query.ts';
import { encodeReply } from '../wire/reply.ts';

/**
 * `edns` (RFC 6891, RFC 7871): reads the query's OPT. Sets the UDP size limit (the
 * client's buffer, clamped to [512, maxUdpPayload]), prepares our OPT for the reply, answers
 * BADVERS for versions above 0, and parses the client-subnet option (malformed → FORMERR).
 */
export const ednsStage: DnsStage = {
  name: 'edns',
  create({ config }) {
    const max = config.maxUdpPayload;
    // shared and never mutated (stages that add options build a new object)
    const plain = Object.freeze({ udpSize: max, do: false, options: [] });
    const withDo = Object.freeze({ udpSize: max, do: true, options: [] });
    return (ctx, next) => {
      const q = ctx.query!;
      const opt = q.opt;
      if (opt === null) {
        ctx.udpLimit = 512;
        return next(ctx);
      }
      ctx.replyOpt = opt.do ? withDo : plain;
      if (opt.version > 0) {
        ctx.rcode = RCODE.BADVERS;
        ctx.reply = encodeReply({
          query: ctx.raw,
          questionEnd: q.questionEnd,
          rcode: RCODE.BADVERS,
          aa: false,
          opt: ctx.replyOpt,
        });
        return;
      }
      ctx.udpLimit = Math.max(512, Math.min(opt.udpSize, max));
      const raw = ctx.raw;
      // the parser checked the option framing; walk it in place
      for (let o = opt.rdStart; o < opt.rdEnd; o += 4 + raw.readUInt16BE(o + 2)) {
        if (raw.readUInt16BE(o) !== OPTION_ECS) continue;
        const e = ctx.ecs === null ? parseEcs(raw, o + 4, o + 4 + raw.readUInt16BE(o + 2)) : 'ecs-twice';
        if (typeof e === 'string') {
          ctx.rejected = e;
          ctx.rcode = RCODE.FORMERR;
          ctx.reply = encodeReply({
            query: ctx.raw,
            questionEnd: q.questionEnd,
            rcode: RCODE.FORMERR,
            aa: false,
            opt: ctx.replyOpt,
          });
          return;
        }
        ctx.ecs = e;
        ctx.ecsSource = e.sourcePrefix;
      }
      next(ctx);
    };
  },
};
