import type { Clock } from '../core/clock.ts';
import type { CompensationReport, RpoSnapshot } from './compensation.ts';
import type { Log } from './log.ts';
import { MemoryLog } from './memory-log.ts';
import type { Replication } from './replication.ts';

/** What a drill does to the data plane when it fails a zone and brings it back. */
export interface ZoneOutage {
  /**
   * Stops the zone's replication (and, on the in-process log, cuts its links) as a zone
   * failure does, then takes its RPO snapshot: its acknowledged writes some other zone has
   * not applied. `whileDown` runs between the two (a kill closes the zone's listeners there,
   * so the snapshot also holds the writes acknowledged while they closed).
   */
  failZone(zone: string, whileDown?: () => Promise<void>): Promise<RpoSnapshot>;
  /** The zone returns: replay, then RPO, WRT, applied/locked and lost (must be 0). */
  restoreZone(zone: string, snapshot: RpoSnapshot, timeoutMs?: number): Promise<CompensationReport>;
}

/** Zone outages over a running Replication and its log. */
export function zoneOutage(o: {
  replication: Replication;
  log: Log;
  zones: readonly string[];
  clock: Clock;
}): ZoneOutage {
  const { replication, log, zones } = o;
  return {
    async failZone(zone, whileDown) {
      // cut and stop first (anti-entropy leaves a stopped zone alone), then look: the
      // snapshot is exactly what the others lack from now on
      if (log instanceof MemoryLog) log.isolate(zone, zones);
      await replication.stopZone(zone);
      await whileDown?.();
      return replication.rpoAtFailure(zone);
    },
    async restoreZone(zone, snapshot, timeoutMs = 60_000) {
      if (log instanceof MemoryLog) log.rejoin(zone, zones);
      const returnedAt = o.clock.now();
      await replication.startZone(zone);
      return replication.compensation(snapshot, returnedAt, timeoutMs);
    },
  };
}
