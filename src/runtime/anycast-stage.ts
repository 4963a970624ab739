/**
 * The anycast stage (after the zone roles, so every listener is bound before a prefix can be
 * announced): one announcer per local zone that has an `anycast.zones` entry, fed by the
 * health plane's verdicts, the zone's lease and the shard map. Its shutdown has two halves the
 * runtime runs apart: `withdraw` before any listener closes, `stop` (the speakers) after.
 */
import {
  Announcer,
  anycastMetrics,
  birdSpeaker,
  prefixesOf,
  registerAnycastRoutes,
  type Speaker,
} from '../anycast/index.ts';
import type { Services } from './services.ts';

/** The announcers of this process's zones and the two halves of their shutdown. */
export interface AnycastStage {
  announcers: Map<string, Announcer>;
  /** Shutdown, first: every zone withdraws, then waits `withdrawGraceMs`. */
  withdraw(): Promise<void>;
  /** Shutdown, last: the speakers stop. */
  stop(): Promise<void>;
}

/**
 * Starts an announcer for each local zone announcing a prefix; null when `anycast` is not
 * configured or no local zone announces. `speaker` replaces BIRD (tests, embedding).
 */
export async function startAnycastStage(
  s: Services,
  speaker?: (zone: string) => Speaker,
): Promise<AnycastStage | null> {
  const cfg = s.topology.config.anycast;
  const zones = cfg ? s.localZones.filter((z) => prefixesOf(cfg, z).length > 0) : [];
  if (!cfg || zones.length === 0) {
    registerAnycastRoutes(s.control, new Map()); // GET /api/anycast says it is off
    return null;
  }
  const metrics = anycastMetrics(s.metrics);
  const announcers = new Map<string, Announcer>();
  const home = s.topology.initialOwners();
  const stopAll = async () => {
    for (const a of announcers.values()) await a.stop().catch(() => {});
  };
  try {
    for (const zone of zones) {
      const here = s.zones.get(zone)!;
      const mine = home.flatMap((z, shard) => (z === zone ? [shard] : []));
      const a = new Announcer({
        zone,
        config: cfg,
        clock: s.clock,
        logger: s.logger,
        metrics,
        speaker: speaker
          ? speaker(zone)
          : birdSpeaker({
              config: cfg,
              zone,
              clock: s.clock,
              onRestart: ({ attempt, ok, error }) =>
                ok
                  ? s.logger.warn(
                      { zone, attempt },
                      'anycast: BIRD exited on its own; started again with the last plan',
                    )
                  : s.logger.error({ zone, attempt, err: error }, 'anycast: BIRD exited on its own and does not start'),
            }),
        inputs: {
          healthy: (role) => (s.health ? (s.health.verdict(`${zone}/${role}`)?.up ?? s.health.zoneUp(zone)) : true),
          leaseHeld: () => here.view?.keeper.valid() ?? false,
          // a planned failover drains the zone's home shards; once moved away the zone is out until failback
          failedOver: () => {
            const view = here.view?.view;
            if (!view?.ready() || mine.length === 0) return false;
            return mine.every((shard) => {
              const e = view.entry(shard);
              return e.zone !== zone || e.draining;
            });
          },
        },
      });
      announcers.set(zone, a);
      await a.start();
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  registerAnycastRoutes(s.control, announcers);
  return {
    announcers,
    async withdraw() {
      await Promise.all([...announcers.values()].map((a) => a.withdrawAll()));
    },
    stop: stopAll,
  };
}
