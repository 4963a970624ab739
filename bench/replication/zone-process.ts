/**
 * One destination zone of replication.bench.ts in its own process, as a distributed
 * deployment runs it (a process per zone, the log and the database shared): its store, its
 * JetStreamLog connection and its Replication. It reports every applied batch to the parent
 * over IPC, with the CLOCK_MONOTONIC time of the apply; on `write` it writes into its own
 * shards (the "4 zones writing" phase); on `stop` it closes.
 */
import pg from 'pg';
import { systemClock } from '../../src/core/clock.ts';
import { JetStreamLog, Replication } from '../../src/replication/index.ts';
import { mono, NATS, openStore, PG_URL, topology, WRITER, writes } from './shared.ts';

export interface ZoneProcessConfig {
  zone: string;
  store: 'sqlite' | 'postgres';
  /** SQLite file or PostgreSQL schema. */
  file?: string;
  schema?: string;
  prefix: string;
}

export type ToZone = { t: 'write'; n: number } | { t: 'cpu' } | { t: 'stop' };
export type FromZone =
  | { t: 'ready' }
  | { t: 'applied'; n: number; at: number; seqs?: number[] }
  | { t: 'written' }
  | { t: 'cpu'; micros: number }
  | { t: 'stopped' };

const send = (m: FromZone) => process.send?.(m);
const cfg = JSON.parse(process.argv[2]!) as ZoneProcessConfig;
const pool = cfg.store === 'postgres' ? new pg.Pool({ connectionString: PG_URL, max: 4 }) : undefined;
const store = await openStore(cfg.store, cfg.zone, pool ? { schema: cfg.schema!, pool } : { file: cfg.file! });
const log = await JetStreamLog.connect({ servers: NATS, prefix: cfg.prefix, clock: systemClock });
const repl = new Replication({
  topology,
  stores: new Map([[cfg.zone, store]]),
  log,
  clock: systemClock,
  batchMax: 1000,
  pollMs: 50,
  events: {
    applied(origin, _dest, b) {
      const at = mono();
      send({
        t: 'applied',
        n: b.changes.length,
        at,
        seqs: origin === WRITER ? b.changes.map((c) => c.seq) : undefined,
      });
    },
  },
});
await repl.start();
process.on('message', async (m: ToZone) => {
  if (m.t === 'write') {
    const s = repl.storeFor(cfg.zone);
    for (let done = 0; done < m.n; done += 100) await s.putMany(writes(100, cfg.zone));
    send({ t: 'written' });
  } else if (m.t === 'cpu') {
    const u = process.cpuUsage();
    send({ t: 'cpu', micros: u.user + u.system });
  } else if (m.t === 'stop') {
    await repl.stop();
    await log.close();
    await store.close();
    await pool?.end();
    send({ t: 'stopped' });
    process.disconnect();
  }
});
send({ t: 'ready' });
