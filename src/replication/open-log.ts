import type { Clock } from '../core/clock.ts';
import { hasCode } from '../core/errors.ts';
import type { Random } from '../core/random.ts';
import { processUrl, type Topology } from '../topology/index.ts';
import { replicationErrors } from './errors.ts';
import { JetStreamLog } from './jetstream-log.ts';
import type { Log } from './log.ts';
import { MemoryLog } from './memory-log.ts';

/**
 * Opens the log between zones as `replication.log` says: in-process with simulated WAN, or
 * NATS JetStream. Refuses a JetStream log that cannot carry the largest value the store
 * accepts: such a change would stop its zone's shipping later, so startup fails instead.
 * The process opens one log for all its `zones` (default: every zone of the topology), so
 * `{zone}` in `replication.nats.url` names the zone only when it runs exactly one
 * (ERR_CONFIG_INVALID otherwise).
 */
export async function openLog(o: {
  topology: Topology;
  clock: Clock;
  random: Random;
  zones?: readonly string[];
}): Promise<Log> {
  const { topology } = o;
  const cfg = topology.config.replication;
  if (cfg.log !== 'jetstream') return new MemoryLog({ clock: o.clock, random: o.random, wan: cfg.wan });
  const url = processUrl(topology, ['replication', 'nats', 'url'], 'the replication log', o.zones);
  let log: JetStreamLog;
  try {
    log = await JetStreamLog.connect({
      servers: url.split(',').map((s) => s.trim()),
      prefix: cfg.nats.prefix,
      replicas: cfg.nats.replicas,
      clock: o.clock,
    });
  } catch (e) {
    if (!hasCode(e, replicationErrors.ERR_REPL_LOG_UNAVAILABLE)) throw e;
    throw replicationErrors.ERR_REPL_LOG_UNAVAILABLE(
      `${topology.where(['replication', 'nats', 'url'])}: replication.nats.url: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const want = topology.config.store.maxValueBytes;
  const have = log.maxValueBytes();
  if (have < want) {
    await log.close();
    throw replicationErrors.ERR_REPL_PAYLOAD_LIMIT(
      `${topology.file}: store.maxValueBytes is ${want}, but the NATS server's max_payload (${log.maxPayload()}) carries values up to ${have} bytes; set store.maxValueBytes to ${have} or less, or raise max_payload in nats-server.conf`,
    );
  }
  return log;
}
