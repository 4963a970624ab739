import { Gauge } from 'prom-client';
import { type Registry, scrapedCounter } from '../../core/metrics.ts';
import type { TableReplication } from './table-replication.ts';

/** Registers the mz_replication_table_* metrics (read when scraped). */
export function registerTableMetrics(reg: Registry, tables: TableReplication): void {
  new Gauge({
    name: 'mz_replication_table_lag_seconds',
    help: 'source commit → applied here, for the newest applied change of each table link',
    labelNames: ['origin', 'dest'],
    registers: [reg],
    collect() {
      this.reset();
      for (const l of tables.links()) this.set({ origin: l.origin, dest: l.dest }, l.seconds);
    },
  });
  new Gauge({
    name: 'mz_replication_table_lag_bytes',
    help: "WAL written in a zone's application database that its decoder's slot has not confirmed",
    labelNames: ['zone'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const s of await tables.slots().catch(() => [])) this.set({ zone: s.zone }, s.lagBytes);
    },
  });
  new Gauge({
    name: 'mz_replication_table_slot_retained_bytes',
    help: "WAL a zone's decoder slot keeps on disk",
    labelNames: ['zone'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const s of await tables.slots().catch(() => [])) this.set({ zone: s.zone }, s.retainedBytes);
    },
  });
  const counter = (name: string, help: string, read: () => number) => scrapedCounter(reg, name, help, read);
  counter(
    'mz_replication_table_shipped_rows_total',
    'row changes decoded and put on the log',
    () => tables.counts().shipped,
  );
  counter(
    'mz_replication_table_applied_rows_total',
    'row changes applied from other zones',
    () => tables.counts().applied,
  );
  counter(
    'mz_replication_table_conflicts_total',
    'row changes that locked (or kept locked) a key',
    () => tables.counts().conflicts,
  );
  counter(
    'mz_replication_table_refused_total',
    "row changes a zone's database refused (a constraint) and held as conflicts, after refusedAfterMs",
    () => tables.counts().refused,
  );
  counter(
    'mz_replication_table_settled_total',
    'concurrent row changes settled by lww or merge',
    () => tables.counts().settled,
  );
  counter(
    'mz_replication_table_misrouted_total',
    'row changes decoded in a zone that did not own their shard (recorded, not replicated)',
    () => tables.counts().misrouted,
  );
  counter('mz_replication_table_errors_total', 'decoding or applying failures (retried)', () => tables.counts().errors);
}
