import { parseClientAddr } from '../../geo/index.ts';
import { isHostName, type NameTable, normalizeName } from '../names.ts';
import type { HandlerContext } from '../reply.ts';
import { replyError, replyJsonText } from '../reply.ts';
import { signedString, verifySignature } from '../sign.ts';

/** Most hosts one /d call may ask for (more → 400 TooManyHosts). */
export const MAX_HOSTS = 5;
/** TTL of an answer for a name we don't serve, so clients don't ask again at once. */
const UNKNOWN_TTL = 60;

/**
 * A string's JSON text without the quotes, in ASCII: addresses and host names pass through
 * as they are; anything else is escaped (non-ASCII as \\uXXXX), so the body's length is its size.
 */
function jsonSafe(s: string): string {
  if (/^[\w.:%/-]*$/.test(s)) return s;
  return JSON.stringify(s)
    .slice(1, -1)
    .replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One host in a /d answer (Aliyun / Tencent HTTPDNS dialect). */
export interface DAnswer {
  host: string;
  client_ip: string;
  ips: string[];
  ipsv6: string[];
  /** Seconds the answer may be used (shorter than origin_ttl when every endpoint is down). */
  ttl: number;
  /** The TTL configured for the service. */
  origin_ttl: number;
}

export interface DDeps {
  names: NameTable;
  accounts: Readonly<Record<string, string>>;
  wallTime: () => number;
  onSignatureRejected: (code: string) => void;
}

/**
 * `GET /d?host=a,b&ip=&query=4,6` and its signed twin `GET /sign_d?…&t=&s=[&account=]`.
 * The answer is `{client_ip, dns: [DAnswer…]}`; Cache-Control max-age is the smallest ttl.
 */
export function createDHandler(deps: DDeps, signed: boolean): (ctx: HandlerContext) => void {
  const { names, accounts } = deps;
  const accountIds = Object.keys(accounts);
  return (ctx) => {
    const { params, res } = ctx;
    const hostParam = params.get('host');
    if (!hostParam) return replyError(res, 400, 'MissingArgument', 'host is required');
    const hosts = hostParam.indexOf(',') < 0 ? [hostParam] : hostParam.split(',');
    if (hosts.length > MAX_HOSTS)
      return replyError(res, 400, 'TooManyHosts', `at most ${MAX_HOSTS} hosts per request (got ${hosts.length})`);
    for (const h of hosts)
      if (!isHostName(h)) return replyError(res, 400, 'InvalidHost', 'a host is not a domain name');
    let client = ctx.client;
    const ip = params.get('ip');
    if (ip) {
      try {
        const a = parseClientAddr(ip);
        if (a.prefix !== (a.family === 4 ? 32 : 128)) throw new Error('subnet');
      } catch {
        return replyError(res, 400, 'InvalidIp', 'ip must be an IPv4 or IPv6 address');
      }
      client = ip;
    }
    const query = params.get('query');
    let want4 = query === null || query === '4';
    let want6 = query === '6';
    if (!want4 && !want6) {
      const parts = (query ?? '').split(',');
      if (parts.length > 2 || parts.some((p) => p !== '4' && p !== '6'))
        return replyError(res, 400, 'InvalidQueryType', 'query must be 4, 6 or 4,6');
      want4 = parts.includes('4');
      want6 = parts.includes('6');
    }

    if (signed) {
      const t = params.get('t');
      const s = params.get('s');
      if (!t || !s) return replyError(res, 400, 'MissingArgument', 't and s are required');
      const account = params.get('account') ?? (accountIds.length === 1 ? accountIds[0]! : '');
      const secret = Object.hasOwn(accounts, account) ? accounts[account] : undefined;
      if (secret === undefined) {
        deps.onSignatureRejected('AccountUnknown');
        return replyError(res, 403, 'AccountUnknown', 'no such account (name it with account=)');
      }
      const v = verifySignature(secret, signedString(hostParam, t), t, s, deps.wallTime());
      if (v !== 'ok') {
        deps.onSignatureRejected(v);
        return replyError(res, 403, v, 'signature refused');
      }
    }

    // the body is written by hand: every string in it is a validated host name (isHostName: no
    // character JSON would escape), an address or a topology endpoint; this is the hottest HTTPDNS path
    const c = jsonSafe(client);
    let body = `{"client_ip":"${c}","dns":[`;
    let minTtl = Number.POSITIVE_INFINITY;
    for (let i = 0; i < hosts.length; i++) {
      const h = hosts[i]!;
      const name = normalizeName(h);
      const d4 = want4 ? names.decided(name, client, 4) : null;
      const d6 = want6 ? names.decided(name, client, 6) : null;
      const known = d4 ?? d6;
      const origin = known ? known.originTtl : UNKNOWN_TTL;
      const ttl = Math.min(d4?.answer.ttl ?? origin, d6?.answer.ttl ?? origin);
      minTtl = Math.min(minTtl, ttl);
      body += `${i ? ',' : ''}{"host":"${h}","client_ip":"${c}","ips":${d4?.ipsJson ?? '[]'},"ipsv6":${d6?.ipsJson ?? '[]'},"ttl":${ttl},"origin_ttl":${origin}}`;
    }
    replyJsonText(res, 200, `${body}]}`, minTtl);
  };
}
