import { Gauge } from 'prom-client';
import { type Registry, scrapedCounter } from '../core/metrics.ts';
import type { ReplicationStats } from './stats.ts';

/** Registers the mz_replication_* metrics (lag is computed when scraped). */
export function registerReplicationMetrics(reg: Registry, repl: ReplicationStats): void {
  const c = repl.counters;
  new Gauge({
    name: 'mz_replication_lag_records',
    help: 'changes written in origin that dest has not applied',
    labelNames: ['origin', 'dest'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const l of await repl.links()) this.set({ origin: l.origin, dest: l.dest }, l.records);
    },
  });
  new Gauge({
    name: 'mz_replication_lag_seconds',
    help: 'age of the oldest change of origin that dest has not applied',
    labelNames: ['origin', 'dest'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const l of await repl.links()) this.set({ origin: l.origin, dest: l.dest }, l.seconds);
    },
  });
  new Gauge({
    name: 'mz_replication_link_up',
    help: '1 when the link origin → dest counts as live, 0 when dest is known to be down',
    labelNames: ['origin', 'dest'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const l of await repl.links()) this.set({ origin: l.origin, dest: l.dest }, l.down ? 0 : 1);
    },
  });
  new Gauge({
    name: 'mz_replication_locked_records',
    help: 'records locked by a conflict, awaiting resolution',
    registers: [reg],
    async collect() {
      this.set((await repl.conflicts()).length);
    },
  });
  const counter = (name: string, help: string, read: () => number) => scrapedCounter(reg, name, help, read);
  counter('mz_replication_batches_shipped_total', 'batches handed to the log', () => c.shippedBatches);
  counter('mz_replication_applied_changes_total', 'changes applied from other zones', () => c.applied);
  counter('mz_replication_conflicts_total', 'changes that locked (or kept locked) a record', () => c.conflicts);
  counter('mz_replication_settled_total', 'concurrent writes settled by owner-wins or a merge', () => c.settled);
  counter('mz_replication_gaps_total', 'batches that arrived after lost ones', () => c.gaps);
  counter('mz_replication_repaired_records_total', 'records repaired by anti-entropy', () => c.repaired);
  counter('mz_replication_errors_total', 'shipping or applying failures (retried)', () => c.errors);
}
