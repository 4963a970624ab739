import { answerIps, type NameTable, normalizeName } from './names.ts';

/** Record types the answerer knows by name; anything else gets NODATA for our names. */
export const QTYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, TXT: 16, AAAA: 28, ANY: 255 };
const TYPE_NAMES = new Map(Object.entries(QTYPES).map(([k, v]) => [v, k]));

export function typeName(t: number): string {
  return TYPE_NAMES.get(t) ?? `TYPE${t}`;
}

/** One resource record in a form both the JSON and the wire answer are built from. */
export interface Rr {
  name: string;
  type: 'A' | 'AAAA' | 'CNAME' | 'TXT' | 'SOA' | 'NS';
  ttl: number;
  data: string | string[] | SoaData;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** A DNS answer for one question. */
export interface NameAnswer {
  rcode: 'NOERROR' | 'NXDOMAIN' | 'REFUSED';
  answers: Rr[];
  authority: Rr[];
  /** ECS scope prefix the answer is valid for (0 for answers that don't depend on the client). */
  scope: number;
}

const NEGATIVE_TTL = 60;

export function soaRecord(apex: string): Rr {
  return {
    name: apex,
    type: 'SOA',
    ttl: NEGATIVE_TTL,
    data: {
      mname: `ns1.${apex}`,
      rname: `hostmaster.${apex}`,
      serial: 1,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: NEGATIVE_TTL,
    },
  };
}

/**
 * Answers one question from steering and the topology: A/AAAA from steering, CNAME and
 * TXT from config, SOA and NS at the apex; NXDOMAIN under the apex for names we don't
 * serve; REFUSED outside it. `client` is an address or an ECS subnet.
 */
export function answerQuestion(names: NameTable, qname: string, qtype: number, client: string): NameAnswer {
  const name = normalizeName(qname);
  const kind = names.kind(name);
  const soa = () => [soaRecord(names.apex)];
  if (kind === 'refused') return { rcode: 'REFUSED', answers: [], authority: [], scope: 0 };
  if (kind === 'nxdomain') return { rcode: 'NXDOMAIN', answers: [], authority: soa(), scope: 0 };
  const answers: Rr[] = [];
  let scope = 0;
  if (kind === 'apex') {
    if (qtype === 6 || qtype === 255) answers.push(soaRecord(names.apex));
    if (qtype === 2 || qtype === 255) answers.push({ name, type: 'NS', ttl: 3600, data: `ns1.${names.apex}` });
  } else if (kind === 'service') {
    const svc = names.service(name)!;
    if (svc.cname) answers.push({ name, type: 'CNAME', ttl: svc.ttl, data: svc.cname });
    else {
      for (const [t, fam, rtype] of [
        [1, 4, 'A'],
        [28, 6, 'AAAA'],
      ] as const) {
        if (qtype !== t && qtype !== 255) continue;
        const a = names.decide(name, client, fam);
        if (!a) continue;
        scope = Math.max(scope, a.scope);
        for (const ip of answerIps(a)) answers.push({ name, type: rtype, ttl: a.ttl, data: ip });
      }
      if ((qtype === 16 || qtype === 255) && svc.txt.length)
        answers.push({ name, type: 'TXT', ttl: svc.ttl, data: [...svc.txt] });
    }
  }
  return { rcode: 'NOERROR', answers, authority: answers.length ? [] : soa(), scope };
}

/** Seconds a response may be cached: the smallest TTL in it (the SOA minimum for negatives). */
export function minTtl(a: NameAnswer): number {
  const all = a.answers.length ? a.answers : a.authority;
  if (all.length === 0) return 0;
  let m = Number.POSITIVE_INFINITY;
  for (const r of all) m = Math.min(m, r.ttl);
  return m;
}

/** Record data in presentation format (the Google/Cloudflare JSON `data` field). */
export function presentData(r: Rr): string {
  if (r.type === 'SOA') {
    const s = r.data as SoaData;
    return `${s.mname}. ${s.rname}. ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`;
  }
  if (r.type === 'TXT') return (r.data as string[]).map((t) => JSON.stringify(t)).join(' ');
  if (r.type === 'CNAME' || r.type === 'NS') return `${r.data as string}.`;
  return r.data as string;
}
