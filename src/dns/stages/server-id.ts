import type { DnsStage } from '../chain.ts';
import { RCODE } from '../wire/query.ts';
import { encodeReply } from '../wire/reply.ts';

/** CHAOS-class TXT names that identify the server (RFC 4892), answered with the zone's name. */
const NAMES = new Set(['id.server', 'hostname.bind']);
const CLASS_CH = 3;
const TYPE_TXT = 16;

/**
 * `server-id`: answers `id.server` and `hostname.bind` (class CH, type TXT) with the name of
 * the zone this server belongs to, so a client of an anycast address can tell which zone
 * answered (`dig @ADDR id.server CH TXT`). Off for a server that belongs to no zone.
 */
export const serverIdStage: DnsStage = {
  name: 'server-id',
  create({ serverId }) {
    if (!serverId) return null;
    return (ctx, next) => {
      const q = ctx.query!;
      if (q.odd || q.qclass !== CLASS_CH || q.qtype !== TYPE_TXT || !NAMES.has(q.name)) return next(ctx);
      ctx.rcode = RCODE.NOERROR;
      ctx.ttl = 0;
      ctx.reply = encodeReply({
        query: ctx.raw,
        questionEnd: q.questionEnd,
        qname: q.name,
        rcode: RCODE.NOERROR,
        aa: true,
        answers: [{ name: q.name, type: 'TXT', class: 'CH', ttl: 0, data: [serverId] }],
        opt: ctx.replyOpt,
      });
    };
  },
};
