import type { Steering } from '../../steering/index.ts';
import type { DnsStage, VersionedState } from '../chain.ts';
import { encodeEcsEcho, OPTION_ECS } from '../wire/ecs.ts';
import { RCODE } from '../wire/query.ts';
import { encodeReply, type Rr } from '../wire/reply.ts';
import { type CompiledZone, QTYPE } from '../zone-data.ts';

/** The records for one question, before encoding. */
export interface Resolution {
  rcode: number;
  answers: Rr[];
  authorities: Rr[];
  additionals: Rr[];
  /** ECS scope: steering's when it was asked, 0 when the answer is the same for everyone. */
  scope: number;
}

/** CNAMEs followed inside our zone before giving up (a loop in config stops here). */
const MAX_CHASE = 8;

/**
 * Resolves a question against the zone: apex SOA/NS, glue, service A/AAAA from steering,
 * CNAME (chased inside the zone) and TXT from config; NXDOMAIN vs NODATA with the SOA.
 */
export function resolve(
  zone: CompiledZone,
  steering: Steering,
  state: VersionedState,
  name: string,
  qtype: number,
  client: string,
): Resolution {
  const res: Resolution = { rcode: RCODE.NOERROR, answers: [], authorities: [], additionals: [], scope: 0 };
  let at = name;
  for (let depth = 0; ; depth++) {
    const svc = zone.services.get(at);
    const cname = svc?.config.cname;
    if (cname !== undefined) {
      res.answers.push({ name: at, type: 'CNAME', ttl: svc!.config.ttl, data: cname });
      const target = cname.toLowerCase().replace(/\.$/, '');
      if (qtype === QTYPE.CNAME || depth >= MAX_CHASE || !zone.inZone(target)) return res;
      at = target;
      continue;
    }
    const before = res.answers.length;
    if (at === zone.apex) {
      if (qtype === QTYPE.SOA) res.answers.push(zone.soa);
      else if (qtype === QTYPE.NS) {
        res.answers.push(...zone.ns);
        for (const n of zone.nsNames) {
          const g = zone.glue.get(n);
          if (g) res.additionals.push(...g.a, ...g.aaaa);
        }
      }
    }
    const g = zone.glue.get(at);
    if (g && qtype === QTYPE.A) res.answers.push(...g.a);
    if (g && qtype === QTYPE.AAAA) res.answers.push(...g.aaaa);
    if (svc) {
      if (qtype === QTYPE.A || qtype === QTYPE.AAAA) {
        const family = qtype === QTYPE.A ? 4 : 6;
        const a = steering.decide({ service: svc.configName, client, family }, state);
        res.scope = a.scope;
        const seen = new Set<string>();
        for (const ep of a.endpoints) {
          if (seen.has(ep.host)) continue; // one RR per address (RFC 2181 §5)
          seen.add(ep.host);
          res.answers.push({ name: at, type: family === 4 ? 'A' : 'AAAA', ttl: a.ttl, data: ep.host });
        }
      } else if (qtype === QTYPE.TXT) {
        for (const t of svc.config.txt) res.answers.push({ name: at, type: 'TXT', ttl: svc.config.ttl, data: t });
      }
    }
    if (qtype === QTYPE.ANY && zone.names.has(at)) {
      // RFC 8482: a small answer instead of everything (ANY is an amplification favourite)
      res.answers.push({ name: at, type: 'HINFO', ttl: zone.negativeTtl, data: { cpu: 'RFC8482', os: '' } });
    }
    if (res.answers.length === before) {
      if (!zone.names.has(at)) res.rcode = RCODE.NXDOMAIN;
      res.authorities.push(zone.negativeSoa);
    }
    return res;
  }
}

/** `answer`: the last stage; encodes the resolution with the ECS echo carrying our scope. */
export const answerStage: DnsStage = {
  name: 'answer',
  create({ zone, steering, state }) {
    return (ctx) => {
      const q = ctx.query!;
      const r = resolve(zone, steering, state, q.name, q.qtype, ctx.client);
      let opt = ctx.replyOpt;
      if (opt !== null && ctx.ecs !== null) {
        // source prefix 0: we used the resolver's address, so the answer claims no subnet
        const scope = ctx.ecs.sourcePrefix === 0 ? 0 : r.scope;
        opt = { ...opt, options: [{ code: OPTION_ECS, data: encodeEcsEcho(ctx.ecs, scope) }] };
      }
      ctx.rcode = r.rcode;
      let ttl = Number.POSITIVE_INFINITY;
      for (const list of [r.answers, r.authorities, r.additionals])
        for (const rr of list) ttl = Math.min(ttl, (rr as { ttl?: number }).ttl ?? 0);
      ctx.ttl = Number.isFinite(ttl) ? ttl : -1;
      ctx.reply = encodeReply({
        query: ctx.raw,
        questionEnd: q.questionEnd,
        rcode: r.rcode,
        aa: true,
        answers: r.answers,
        authorities: r.authorities,
        additionals: r.additionals,
        opt,
        qname: q.name,
      });
    };
  },
};
