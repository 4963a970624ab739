import type { DnsStage } from '../chain.ts';
import { findOpt, hasOption } from '../wire/query.ts';
import { OPTION_PADDING, padReply } from '../wire/reply.ts';

/** RFC 8467 §4.1, the recommended block-length policy: responses padded to a multiple of 468 octets. */
export const RESPONSE_PAD_BLOCK = 468;

/**
 * `padding` (RFC 7830, RFC 8467): a DoH reply to a query that carries the Padding option is
 * padded to a multiple of RESPONSE_PAD_BLOCK. Only DoH: padding hides sizes from someone who
 * sees encrypted traffic, and on plain UDP and TCP it would only cost bytes (and, on UDP,
 * amplification). It wraps the cache, so cached replies stay unpadded and a hit is padded
 * like a miss.
 */
export const paddingStage: DnsStage = {
  name: 'padding',
  create() {
    return (ctx, next) => {
      next(ctx);
      if (ctx.transport !== 'doh' || ctx.reply === null) return;
      const opt = findOpt(ctx.raw);
      if (opt !== null && hasOption(ctx.raw, opt, OPTION_PADDING)) ctx.reply = padReply(ctx.reply, RESPONSE_PAD_BLOCK);
    };
  },
};
