import type { ResolverEmitter } from './resolver-events.ts';
import type { ResolverSettings } from './resolver-settings.ts';
import type { ResolverStats } from './resolver-types.ts';

/**
 * Asks the system resolver for host in the background and emits 'hijack' when none of its
 * addresses is HTTPDNS's or otherwise ours (`ours`): the local DNS is likely being tampered with.
 */
export function checkHijack(
  s: ResolverSettings,
  stats: ResolverStats,
  events: ResolverEmitter,
  ours: ReadonlySet<string>,
  host: string,
  httpdnsIps: string[],
): void {
  if (!s.hijackCheck || !s.systemLookup || httpdnsIps.length === 0) return;
  s.systemLookup(host).then(
    (addrs) => {
      const system = addrs.map((a) => a.address);
      if (system.length === 0 || system.some((ip) => httpdnsIps.includes(ip) || ours.has(ip))) return;
      stats.hijacks++;
      events.emit('hijack', { host, system, httpdns: httpdnsIps });
    },
    () => {},
  );
}
