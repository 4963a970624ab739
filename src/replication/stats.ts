/** What replication reports about itself: counters and the lag of each link. */

/** Lag of one link origin → dest. */
export interface LinkLag {
  origin: string;
  dest: string;
  /** Changes written in origin that dest has not applied. */
  records: number;
  /** Age of the oldest of them (0 when caught up). */
  seconds: number;
  /**
   * The destination is known to be down (stopped in this process, or declared down through
   * setZoneUp / the zoneUp option): its backlog is real but cannot shrink until it returns,
   * so it is reported on its own and left out of lagOf/lagFor.
   */
  down: boolean;
}

/** Counters the metrics and the API read. */
export interface ReplicationCounters {
  shippedBatches: number;
  applied: number;
  conflicts: number;
  settled: number;
  gaps: number;
  repaired: number;
  errors: number;
}

/** The figures the metrics are read from when scraped (a running Replication satisfies it). */
export interface ReplicationStats {
  readonly counters: ReplicationCounters;
  links(): Promise<LinkLag[]>;
  conflicts(): Promise<readonly unknown[]>;
}
