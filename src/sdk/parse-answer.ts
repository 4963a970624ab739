import { sdkErrors } from './errors.ts';
import { ipFamily } from './ip-text.ts';

/** One host's entry in a /d answer, checked. */
export interface HostAnswer {
  host: string;
  ips: string[];
  ipsv6: string[];
  ttl: number;
}

/** Checks a /d answer's JSON body and indexes it by host; ERR_SDK_BAD_ANSWER when it is malformed or lacks a host. */
export function parseAnswer(body: unknown, hosts: readonly string[]): Map<string, HostAnswer> {
  const bad = (m: string) => sdkErrors.ERR_SDK_BAD_ANSWER(`sdk: bad /d answer: ${m}`);
  const list = (body as { dns?: unknown })?.dns;
  if (!Array.isArray(list)) throw bad('no dns list');
  const out = new Map<string, HostAnswer>();
  for (const d of list as Record<string, unknown>[]) {
    const host = typeof d?.host === 'string' ? d.host.toLowerCase() : null;
    const ips = d?.ips ?? [];
    const ipsv6 = d?.ipsv6 ?? [];
    const ttl = d?.ttl;
    if (!host || !Array.isArray(ips) || !Array.isArray(ipsv6) || typeof ttl !== 'number' || !(ttl >= 0))
      throw bad('an entry lacks host, ips or ttl');
    if (!ips.every((x) => typeof x === 'string' && ipFamily(x) === 4)) throw bad(`ips of ${host} are not IPv4`);
    if (!ipsv6.every((x) => typeof x === 'string' && ipFamily(x) === 6)) throw bad(`ipsv6 of ${host} are not IPv6`);
    out.set(host, { host, ips: ips as string[], ipsv6: ipsv6 as string[], ttl: Math.min(ttl, 86_400) });
  }
  for (const h of hosts) if (!out.has(h)) throw bad(`no entry for ${h}`);
  return out;
}
