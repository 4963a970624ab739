import { parseClientAddr } from '../../geo/index.ts';
import { answerQuestion, presentData, QTYPES, type Rr } from '../answer.ts';
import { isHostName, type NameTable, normalizeName } from '../names.ts';
import { type HandlerContext, replyError, replyJson } from '../reply.ts';

const STATUS = { NOERROR: 0, NXDOMAIN: 3, REFUSED: 5 } as const;

function jsonRr(r: Rr) {
  return { name: `${normalizeName(r.name)}.`, type: QTYPES[r.type]!, TTL: r.ttl, data: presentData(r) };
}

/**
 * `GET /resolve?name=&type=&edns_client_subnet=` in the Google / Cloudflare JSON dialect.
 * `type` is a name (A, AAAA, CNAME, TXT, SOA, NS, ANY) or a number; default A.
 */
export function createResolveHandler(names: NameTable): (ctx: HandlerContext) => void {
  return (ctx) => {
    const { params, res } = ctx;
    const name = params.get('name');
    if (!name) return replyError(res, 400, 'MissingArgument', 'name is required');
    if (!isHostName(name)) return replyError(res, 400, 'InvalidName', 'name is not a domain name');
    const typeParam = (params.get('type') ?? 'A').toUpperCase();
    const qtype = /^\d{1,5}$/.test(typeParam) ? Number(typeParam) : QTYPES[typeParam];
    if (qtype === undefined || qtype < 1 || qtype > 65535)
      return replyError(res, 400, 'InvalidType', 'type must be a record type name or number');
    let client = ctx.client;
    const ecsParam = params.get('edns_client_subnet');
    let ecs: { address: string; prefix: number } | null = null;
    if (ecsParam) {
      try {
        const a = parseClientAddr(ecsParam);
        ecs = { address: a.address, prefix: a.prefix };
        client = `${a.address}/${a.prefix}`;
      } catch {
        return replyError(res, 400, 'InvalidSubnet', 'edns_client_subnet must be an address or address/prefix');
      }
    }
    const a = answerQuestion(names, name, qtype, client);
    const body: Record<string, unknown> = {
      Status: STATUS[a.rcode],
      TC: false,
      RD: true,
      RA: false,
      AD: false,
      CD: false,
      Question: [{ name: `${normalizeName(name)}.`, type: qtype }],
    };
    if (a.answers.length) body.Answer = a.answers.map(jsonRr);
    if (a.authority.length) body.Authority = a.authority.map(jsonRr);
    // the scope says how widely a cache may share this answer (RFC 7871 §7.2.1)
    if (ecs) body.edns_client_subnet = `${ecs.address}/${a.scope}`;
    const all = a.answers.length ? a.answers : a.authority;
    const ttl = all.length ? Math.min(...all.map((r) => r.ttl)) : 0;
    const accept = String(ctx.req.headers.accept ?? '');
    const type = accept.includes('application/dns-json')
      ? 'application/dns-json; charset=utf-8'
      : 'application/json; charset=utf-8';
    replyJson(res, 200, body, ttl, undefined, type);
  };
}
