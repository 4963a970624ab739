import type { Clock } from '../core/clock.ts';
import type { TopologyConfig } from '../topology/index.ts';
import { MemorySessionStore } from './memory-session-store.ts';
import { RedisSessionStore } from './redis-session-store.ts';
import type { SessionStore } from './types.ts';

export type SessionConfig = TopologyConfig['session'];

/** The zone's session store as the topology's `session:` section says (`{zone}` in the Redis URL names the zone). */
export async function openSessionStore(config: SessionConfig, zone: string, clock: Clock): Promise<SessionStore> {
  if (config.adapter === 'memory') return new MemorySessionStore(clock);
  return RedisSessionStore.open({ url: config.redis.url.replaceAll('{zone}', zone), prefix: config.redis.prefix });
}
