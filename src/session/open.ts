import type { Clock } from '../core/clock.ts';
import { isPlatformError } from '../core/errors.ts';
import { type Topology, type TopologyConfig, zoneUrl } from '../topology/index.ts';
import { sessionErrors } from './errors.ts';
import { MemorySessionStore } from './memory-session-store.ts';
import { RedisSessionStore } from './redis-session-store.ts';
import type { SessionStore } from './types.ts';

export type SessionConfig = TopologyConfig['session'];

/**
 * The zone's session store as the topology's `session:` section says (`{zone}` and `{zone_}` in the
 * Redis URL name the zone). A Redis that does not answer is reported with the setting's file:line.
 */
export async function openSessionStore(topology: Topology, zone: string, clock: Clock): Promise<SessionStore> {
  const config: SessionConfig = topology.config.session;
  if (config.adapter === 'memory') return new MemorySessionStore(clock);
  try {
    return await RedisSessionStore.open({
      url: zoneUrl(config.redis.url, zone),
      prefix: config.redis.prefix,
    });
  } catch (e) {
    if (isPlatformError(e) && e.code === sessionErrors.ERR_SESSION_UNAVAILABLE.code)
      throw sessionErrors.ERR_SESSION_UNAVAILABLE(
        `${topology.where(['session', 'redis', 'url'])}: session.redis.url: ${e.message}`,
        { cause: e },
      );
    throw e;
  }
}
