import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Clock, Timer } from '../core/clock.ts';
import { fnv1a } from '../core/random.ts';

// Runs in a worker thread with its own connection to the same file: a WAL checkpoint
// fsyncs, and on the event loop that fsync would stall every zone of the process.
// A passive checkpoint copies the frames the WAL had when it started; commits made meanwhile
// stay behind, and SQLite only reuses the WAL from its start once a commit begins with every
// frame copied. Under steady writes one pass per tick never got there and the WAL grew for as
// long as the load lasted (tens of MB a second per zone in the bench), so passes repeat until
// one finds no new frames (each copies only what the previous left).
// On Linux the thread also lowers its own priority (nice is per thread there; elsewhere it
// would renice the whole process): a checkpoint is background work, and one that took a core
// while the event loop had commits and applies to run showed up as a lag tail.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
if (process.platform === 'linux') try { require('node:os').setPriority(10); } catch {}
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
function checkpoint() {
  let prev = -1;
  for (let i = 0; i < 8; i++) {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    if (r.busy || (r.log === prev && r.checkpointed === r.log)) return;
    prev = r.log;
  }
}
parentPort.on('message', (m) => {
  if (m === 'checkpoint') {
    try { checkpoint(); } catch {}
  } else if (m === 'close') {
    try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
    db.close();
    parentPort.close();
  }
});
`;

/**
 * Checkpoints a WAL database from a worker thread every `everyMs` (the main connection
 * sets wal_autocheckpoint = 0), so commits on the event loop never wait for an fsync.
 * The first tick comes at an offset taken from the file name, so the zones of one process
 * (opened together) do not all checkpoint at the same moment.
 */
export class Checkpointer {
  private readonly worker: Worker;
  private timer: Timer;
  private readonly exited: Promise<void>;

  constructor(file: string, clock: Clock, everyMs = 1000) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER, { eval: true, workerData: { file, module } });
    this.worker.unref();
    this.exited = new Promise((r) => this.worker.once('exit', () => r()));
    this.worker.on('error', () => {}); // a failed checkpoint only delays the next one
    const tick = () => this.worker.postMessage('checkpoint');
    this.timer = clock.setTimer(fnv1a(file) % everyMs, () => {
      tick();
      this.timer = clock.setInterval(everyMs, tick);
    });
  }

  /** Runs a last checkpoint and stops the worker. */
  async close(): Promise<void> {
    this.timer.cancel();
    this.worker.ref(); // keep the process alive until the last checkpoint is done
    this.worker.postMessage('close');
    await this.exited;
  }
}
