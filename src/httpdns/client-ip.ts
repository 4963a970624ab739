import { isPlatformError } from '../core/errors.ts';
import { makeAddr, parseClientAddr } from '../geo/index.ts';
import { httpdnsErrors } from './errors.ts';

interface Cidr {
  family: 4 | 6;
  address: string;
  prefix: number;
}

/** Strips the IPv4-mapped prefix Node puts on dual-stack sockets ('::ffff:1.2.3.4'). */
export function socketAddress(raw: string | undefined): string {
  if (!raw) return '0.0.0.0';
  return raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw;
}

/** A set of CIDRs, matched by masking the address to each prefix. */
export class CidrSet {
  private readonly cidrs: Cidr[];

  constructor(list: readonly string[]) {
    this.cidrs = list.map((s) => {
      try {
        const a = parseClientAddr(s);
        return { family: a.family, address: a.address, prefix: a.prefix };
      } catch (e) {
        if (isPlatformError(e)) throw httpdnsErrors.ERR_HTTPDNS_BAD_CIDR(`httpdns: bad CIDR ${s}`, { cause: e });
        throw e;
      }
    });
  }

  get size(): number {
    return this.cidrs.length;
  }

  has(ip: string): boolean {
    if (this.cidrs.length === 0) return false;
    let a: ReturnType<typeof parseClientAddr>;
    try {
      a = parseClientAddr(ip);
    } catch {
      return false;
    }
    for (const c of this.cidrs)
      if (c.family === a.family && makeAddr(a.family, a.address, c.prefix).address === c.address) return true;
    return false;
  }
}

/**
 * The client's address: the socket's, unless the socket is a trusted proxy; then the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy (entries further left
 * were written by the client and can be forged).
 */
export function clientAddress(socketIp: string, xff: string | string[] | undefined, trusted: CidrSet): string {
  if (xff === undefined || trusted.size === 0 || !trusted.has(socketIp)) return socketIp;
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
  let client = socketIp;
  for (let i = hops.length - 1; i >= 0 && i >= hops.length - 16; i--) {
    const hop = socketAddress(hops[i]!.trim());
    try {
      parseClientAddr(hop);
    } catch {
      return client; // garbage in the header: stop at the last good hop
    }
    client = hop;
    if (!trusted.has(hop)) return hop;
  }
  return client;
}
