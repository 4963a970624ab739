import { TwoGenerationCache } from '../../core/two-generation-cache.ts';
import type { DnsStage } from '../chain.ts';
import { CommonQuery, nameEquals, nameHash, readCommonQuery, wireName } from '../wire/common-query.ts';
import { addressText, encodeEcsEcho, OPTION_ECS } from '../wire/ecs.ts';
import { RCODE } from '../wire/query.ts';
import { encodeReply, type ReplyOpt, writeAddressRr } from '../wire/reply.ts';
import { QTYPE } from '../zone-data.ts';

/** A service name the lean path answers: A/AAAA come from steering and nothing else. */
interface LeanName {
  wire: Buffer;
  configName: string;
}

const A_RR = 16;
const AAAA_RR = 28;
/** IPv4 client subnets whose text is kept (see clientText). */
const V4_TEXTS = 65_536;
/** Bytes per slab of lean replies (a typical reply is 60–100 bytes). */
const SLAB = 16384;

/**
 * Reply buffers carved one after another out of slabs of this stage's own: an ArrayBuffer per
 * reply (Buffer.allocUnsafeSlow) cost more than the rest of the encoding. Not Node's shared
 * pool: there, the short-lived buffers of cache hits would sit between the replies the cache
 * keeps for minutes, and each kept reply could pin a whole 8 KiB pool slab. Here nearly every
 * reply is kept by the cache, in the order it was written, and the cache drops entries a
 * generation at a time, so a slab is freed with its neighbours.
 */
class ReplySlabs {
  private slab = Buffer.allocUnsafeSlow(SLAB);
  private used = 0;

  take(size: number): Buffer {
    if (size > SLAB) return Buffer.allocUnsafeSlow(size);
    if (this.used + size > SLAB) {
      this.slab = Buffer.allocUnsafeSlow(SLAB);
      this.used = 0;
    }
    const b = this.slab.subarray(this.used, this.used + size);
    this.used += size;
    return b;
  }
}

/**
 * `lean`: a cache miss of the common shape (wire/common-query.ts: one question, A or AAAA,
 * at most an OPT with client subnet) for a name whose answer is steering's and nothing else
 * (a service without cname, not the apex, not an NS name) is read, steered and written in
 * one pass into one exactly sized buffer: no ParsedQuery, Ecs, record or option objects.
 * It does what parse, truncate, edns, zone-match, client-subnet and answer would have done
 * for that query, byte for byte; every other packet goes on to them unchanged. Off with
 * MZ_DNS_LEAN_PATH=0 (the DNS suites run both ways, test/integration/dns/full-path.test.ts).
 */
export const leanStage: DnsStage = {
  name: 'lean',
  create({ zone, steering, state, config, stats, leanPath }) {
    if (!leanPath) return null;
    const max = config.maxUdpPayload;
    const plain: ReplyOpt = Object.freeze({ udpSize: max, do: false, options: [] });
    const withDo: ReplyOpt = Object.freeze({ udpSize: max, do: true, options: [] });
    const names = new Map<number, LeanName[]>();
    for (const svc of zone.services.values()) {
      if (svc.config.cname !== undefined || svc.name === zone.apex || zone.glue.has(svc.name)) continue;
      if (!zone.inZone(svc.name)) continue;
      const wire = wireName(svc.name);
      if (wire === null) continue;
      const h = nameHash(wire, 0, wire.length);
      names.set(h, [...(names.get(h) ?? []), { wire, configName: svc.configName }]);
    }
    const q = new CommonQuery();
    const slabs = new ReplySlabs();
    // IPv4 subnets of /24 or wider → their text, the same string object each time: steering's
    // geo cache then finds it without building, flattening and hashing a new string
    const v4Texts = new TwoGenerationCache<number, string>(V4_TEXTS);
    const clientText = (raw: Buffer, q: CommonQuery): string => {
      if (q.ecsFamily !== 4 || q.ecsSource > 24)
        return `${addressText(raw, q.ecsAddr, q.ecsAddrLength, q.ecsFamily as 4 | 6)}/${q.ecsSource}`;
      // the bits past the prefix are zero (checked), so the top 24 bits and the prefix say it all: a small integer
      const a = q.ecsAddr;
      const n = q.ecsAddrLength;
      const top = ((n > 0 ? raw[a]! : 0) << 16) | ((n > 1 ? raw[a + 1]! : 0) << 8) | (n > 2 ? raw[a + 2]! : 0);
      const key = top * 32 + q.ecsSource;
      let text = v4Texts.get(key);
      if (text === undefined) {
        text = `${addressText(raw, a, n, 4)}/${q.ecsSource}`;
        v4Texts.set(key, text);
      }
      return text;
    };

    return (ctx, next) => {
      const raw = ctx.raw;
      if (!readCommonQuery(raw, q)) return next(ctx);
      const nameLength = q.questionEnd - 16;
      let svc: LeanName | undefined;
      for (const c of names.get(q.nameHash) ?? []) if (c.wire.length === nameLength && nameEquals(raw, c.wire)) svc = c;
      if (svc === undefined) return next(ctx);

      // what edns and client-subnet would have set
      ctx.lean = true;
      ctx.qtype = q.qtype;
      ctx.replyOpt = q.hasOpt ? (q.do ? withDo : plain) : null;
      ctx.udpLimit = q.hasOpt ? Math.max(512, Math.min(q.udpSize, max)) : 512;
      const family = q.ecsFamily;
      ctx.ecsSource = family === 0 ? -1 : q.ecsSource;
      ctx.client = family !== 0 && q.ecsSource > 0 ? clientText(raw, q) : ctx.address;

      const v4 = q.qtype === QTYPE.A;
      const a = steering.decide({ service: svc.configName, client: ctx.client, family: v4 ? 4 : 6 }, state);
      const eps = a.endpoints;
      // one record per address (RFC 2181 §5): count the first of each host
      let count = 0;
      for (let i = 0; i < eps.length; i++) if (firstOf(eps, i)) count++;
      const scope = family === 0 ? 0 : q.ecsSource === 0 ? 0 : Math.max(0, Math.min(a.scope, family === 4 ? 32 : 128));
      ctx.rcode = RCODE.NOERROR;
      if (count === 0) {
        // NODATA (every endpoint filtered out): rare, so the general encoder writes it
        ctx.ttl = zone.negativeTtl;
        ctx.reply = encodeReply({
          query: raw,
          questionEnd: q.questionEnd,
          rcode: RCODE.NOERROR,
          aa: true,
          authorities: [zone.negativeSoa],
          opt: echoOpt(ctx.replyOpt, raw, q, scope),
        });
      } else {
        ctx.ttl = a.ttl;
        const ecsLength = family === 0 ? 0 : 8 + q.ecsAddrLength;
        const size = q.questionEnd + count * (v4 ? A_RR : AAAA_RR) + (q.hasOpt ? 11 + ecsLength : 0);
        const buf = slabs.take(size);
        buf[0] = raw[0]!;
        buf[1] = raw[1]!;
        // QR, opcode QUERY, AA, RD as asked; CD as asked, NOERROR
        buf[2] = 0x84 | (raw[2]! & 0x01);
        buf[3] = raw[3]! & 0x10;
        buf[4] = 0;
        buf[5] = 1;
        buf[6] = count >> 8;
        buf[7] = count & 0xff;
        buf[8] = 0;
        buf[9] = 0;
        buf[10] = 0;
        buf[11] = q.hasOpt ? 1 : 0;
        // the question byte for byte (0x20 resolvers see their own case)
        for (let i = 12; i < q.questionEnd; i++) buf[i] = raw[i]!;
        let off = q.questionEnd;
        const type = v4 ? QTYPE.A : QTYPE.AAAA;
        for (let i = 0; i < eps.length; i++)
          if (firstOf(eps, i)) off = writeAddressRr(buf, off, type, a.ttl, eps[i]!.host);
        if (q.hasOpt) {
          buf[off] = 0; // root owner, TYPE 41, our payload size, extended rcode 0, version 0
          buf.writeUInt16BE(41, off + 1);
          buf.writeUInt16BE(max, off + 3);
          buf[off + 5] = 0;
          buf[off + 6] = 0;
          buf[off + 7] = q.do ? 0x80 : 0;
          buf[off + 8] = 0;
          buf.writeUInt16BE(ecsLength, off + 9);
          off += 11;
          if (family !== 0) {
            // the ECS echo: family, source prefix and address as asked, our scope (RFC 7871 §7.2.1)
            buf.writeUInt16BE(OPTION_ECS, off);
            buf.writeUInt16BE(4 + q.ecsAddrLength, off + 2);
            buf.writeUInt16BE(family === 4 ? 1 : 2, off + 4);
            buf[off + 6] = q.ecsSource;
            buf[off + 7] = scope;
            for (let i = 0; i < q.ecsAddrLength; i++) buf[off + 8 + i] = raw[q.ecsAddr + i]!;
          }
        }
        ctx.reply = buf;
      }
      stats.leanAnswers++;
      // what truncate would have done (RFC 2181 §9): header and question with TC=1
      if (ctx.transport === 'udp' && ctx.reply.length > ctx.udpLimit) {
        stats.truncated++;
        const opt = ctx.replyOpt ? { udpSize: max, do: ctx.replyOpt.do, options: [] } : null;
        ctx.reply = encodeReply({ query: raw, questionEnd: q.questionEnd, rcode: 0, aa: true, tc: true, opt });
      }
    };
  },
};

/** Whether eps[i] is the first endpoint with its host (later ones repeat an address). */
function firstOf(eps: readonly { host: string }[], i: number): boolean {
  const host = eps[i]!.host;
  for (let j = 0; j < i; j++) if (eps[j]!.host === host) return false;
  return true;
}

/** Our OPT with the ECS echo, for the general encoder (the NODATA case). */
function echoOpt(opt: ReplyOpt | null, raw: Buffer, q: CommonQuery, scope: number): ReplyOpt | null {
  if (opt === null || q.ecsFamily === 0) return opt;
  const ecs = {
    family: q.ecsFamily as 4 | 6,
    sourcePrefix: q.ecsSource,
    buf: raw,
    addrStart: q.ecsAddr,
    addrLength: q.ecsAddrLength,
  };
  return { ...opt, options: [{ code: OPTION_ECS, data: encodeEcsEcho(ecs, scope) }] };
}
