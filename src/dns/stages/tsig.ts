import type { DnsStage } from '../chain.ts';
import { expandName, type ParsedQuery, RCODE, TYPE_TSIG } from '../wire/query.ts';
import { encodeReply } from '../wire/reply.ts';

/** TSIG error BADKEY (RFC 8945 §5.2). */
const TSIG_BADKEY = 17;

/**
 * The unsigned TSIG record of an error reply (RFC 8945 §5.3.2): the query's key and
 * algorithm names (uncompressed), time signed = our clock, its fudge and original id, MAC
 * size 0, the error, no other data. Null when a name cannot be expanded (the parser already
 * checked them, so never in practice).
 */
export function unsignedTsig(raw: Buffer, q: ParsedQuery, nowSeconds: number, error: number): Buffer | null {
  const t = q.tsig!;
  const key = expandName(raw, t.start);
  const alg = expandName(raw, t.rdStart);
  if (key === null || alg === null) return null;
  const rdLength = alg.length + 16;
  const out = Buffer.alloc(key.length + 10 + rdLength);
  key.copy(out, 0);
  let o = key.length;
  out.writeUInt16BE(TYPE_TSIG, o);
  out.writeUInt16BE(255, o + 2); // class ANY, TTL 0
  out.writeUInt16BE(rdLength, o + 8);
  o += 10;
  alg.copy(out, o);
  o += alg.length;
  out.writeUInt16BE(Math.floor(nowSeconds / 2 ** 32) & 0xffff, o); // 48-bit time signed
  out.writeUInt32BE(nowSeconds >>> 0, o + 2);
  out.writeUInt16BE(raw.readUInt16BE(t.fudgeAt), o + 6);
  // MAC size 0 at o + 8
  out.writeUInt16BE(raw.readUInt16BE(t.originalIdAt), o + 10);
  out.writeUInt16BE(error, o + 12);
  // other len 0 at o + 14
  return out;
}

/**
 * `tsig`: we hold no TSIG keys, so a signed query is answered NOTAUTH with TSIG error
 * BADKEY, unsigned (RFC 8945 §5.2), instead of an ordinary answer the client cannot verify.
 * After `edns`, so the reply carries our OPT before the TSIG. Never cached: its time signed
 * is per reply.
 */
export const tsigStage: DnsStage = {
  name: 'tsig',
  create({ clock }) {
    return (ctx, next) => {
      const q = ctx.query!;
      if (q.tsig === null) return next(ctx);
      const tsig = unsignedTsig(ctx.raw, q, Math.floor(clock.wallTime() / 1000), TSIG_BADKEY);
      ctx.rejected = 'tsig-badkey';
      ctx.rcode = tsig === null ? RCODE.FORMERR : RCODE.NOTAUTH;
      ctx.ttl = 0;
      ctx.reply = encodeReply({
        query: ctx.raw,
        questionEnd: q.questionEnd,
        rcode: ctx.rcode,
        aa: false,
        opt: ctx.replyOpt,
        tsig: tsig ?? undefined,
      });
    };
  },
};
