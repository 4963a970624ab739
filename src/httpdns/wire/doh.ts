import dnsPacket from 'dns-packet';
import { answerQuestion, minTtl, type NameAnswer, type Rr } from '../answer.ts';
import type { NameTable } from '../names.ts';

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODE;

/** The outcome of a DNS message: wire bytes and how long they may be cached. */
export interface DohReply {
  body: Buffer;
  /** Seconds for Cache-Control max-age (RFC 8484 §5.1: the smallest TTL in the answer). */
  ttl: number;
  rcode: Rcode;
}

interface Ecs {
  family: number;
  sourcePrefixLength: number;
  ip: string;
}

/** A header-only reply (FORMERR, NOTIMP) for a query we cannot or will not parse further. */
function bare(query: Buffer, rcode: Rcode): DohReply {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR=1, opcode echoed, RD echoed
  const flags = 0x8000 | (query.readUInt16BE(2) & 0x7900) | RCODE[rcode];
  out.writeUInt16BE(flags, 2);
  return { body: out, ttl: 0, rcode };
}

function toWire(r: Rr): dnsPacket.Answer {
  return { name: r.name, type: r.type, ttl: r.ttl, class: 'IN', data: r.data } as dnsPacket.Answer;
}

/**
 * Answers one DNS query message (RFC 1035 wire format, as carried by RFC 8484) from
 * steering. The client is the ECS subnet in the query when there is one, else `clientIp`.
 * Returns null for bytes too short to be a DNS header (the caller answers HTTP 400).
 */
export function answerDnsMessage(names: NameTable, query: Buffer, clientIp: string): DohReply | null {
  if (query.length < 12) return null;
  let q: dnsPacket.Packet;
  try {
    q = dnsPacket.decode(query);
  } catch {
    return bare(query, 'FORMERR');
  }
  if (q.type !== 'query') return bare(query, 'FORMERR');
  if ((q as { opcode?: string }).opcode !== 'QUERY') return bare(query, 'NOTIMP');
  const question = q.questions?.[0];
  if (!question || q.questions!.length !== 1) return bare(query, 'FORMERR');
  const opt = q.additionals?.find((a) => a.type === 'OPT') as
    | { udpPayloadSize?: number; options?: { code: number }[] }
    | undefined;
  const ecs = opt?.options?.find((o) => o.code === 8) as Ecs | undefined;
  let client = clientIp;
  if (ecs && typeof ecs.ip === 'string' && ecs.sourcePrefixLength <= (ecs.family === 2 ? 128 : 32))
    client = ecs.sourcePrefixLength === 0 ? clientIp : `${ecs.ip}/${ecs.sourcePrefixLength}`;
  const qtype = typeof question.type === 'string' ? typeNumber(question.type) : Number(question.type);
  let a: NameAnswer;
  try {
    a = answerQuestion(names, question.name, qtype, client);
  } catch {
    return bare(query, 'FORMERR'); // an ECS address steering cannot parse
  }
  const rd = q.flags! & dnsPacket.RECURSION_DESIRED;
  const additionals: dnsPacket.Answer[] = [];
  if (opt) {
    const options: unknown[] = [];
    if (ecs)
      options.push({
        code: 8,
        family: ecs.family,
        sourcePrefixLength: ecs.sourcePrefixLength,
        scopePrefixLength: Math.min(a.scope, ecs.family === 2 ? 128 : 32),
        ip: ecs.ip,
      });
    additionals.push({ type: 'OPT', name: '.', udpPayloadSize: 4096, options } as unknown as dnsPacket.Answer);
  }
  try {
    const body = dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | rd | RCODE[a.rcode],
      questions: [question],
      answers: a.answers.map(toWire),
      authorities: a.authority.map(toWire),
      additionals,
    });
    return { body, ttl: minTtl(a), rcode: a.rcode };
  } catch {
    return bare(query, 'SERVFAIL'); // e.g. an ECS option whose address doesn't match its family
  }
}

const NAMED: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, ANY: 255 };

function typeNumber(t: string): number {
  if (NAMED[t] !== undefined) return NAMED[t]!;
  const m = /^TYPE(\d+)$/.exec(t) ?? /^UNKNOWN_(\d+)$/.exec(t);
  return m ? Number(m[1]) : 0;
}
