/**
 * The worker side of worker-pool.ts: a capability's worker module calls `runWorker` with how
 * to build its server from the zone process's payload. The worker attaches the listening
 * sockets it is sent, answers asks and metrics scrapes, reports its request count every
 * 0.5 s, and exits when told to stop or when its zone's process goes away.
 */
import { systemClock } from './clock.ts';
import { createMetrics, type Registry } from './metrics.ts';
import type { FromWorker, ToWorker } from './worker-pool.ts';

/** What a worker serves with, built from the payload. */
export interface WorkerApp {
  /** How many sockets it takes (the zone's process sends that many). */
  listeners: number;
  /** Serves socket `i` (a net.Server or dgram.Socket the zone's process bound). */
  attach(handle: unknown, i: number): Promise<void>;
  /** Answers the zone process's asks. */
  onAsk?(body: unknown): Promise<unknown>;
  onTell?(body: unknown): void;
  close(): Promise<void>;
}

export interface WorkerContext {
  index: number;
  /** This worker's registry: scraped by the zone's process and summed into its /metrics. */
  metrics: Registry;
  /** Asks the zone's process; resolves with its answer. */
  ask(body: unknown): Promise<unknown>;
  /** Counts a request in the zone's load meter. */
  countRequest(): void;
}

const send = (m: FromWorker) => process.send?.(m);

/** Runs this process as a worker: `build` makes its server from the zone process's payload. */
export function runWorker<P>(build: (payload: P, ctx: WorkerContext) => WorkerApp | Promise<WorkerApp>): void {
  let app: WorkerApp | undefined;
  let attached = 0;
  let requests = 0;
  let nextId = 1;
  const pending = new Map<number, (v: unknown) => void>();
  const metrics = createMetrics();

  const stop = async (code: number): Promise<void> => {
    await app?.close().catch(() => {});
    process.exit(code);
  };

  const handle = async (m: ToWorker, h: unknown): Promise<void> => {
    switch (m.type) {
      case 'start':
        app = await build(m.payload as P, {
          index: m.index,
          metrics,
          ask: (body) =>
            new Promise((resolve) => {
              const id = nextId++;
              pending.set(id, resolve);
              send({ type: 'ask', id, body });
            }),
          countRequest: () => void requests++,
        });
        send({ type: 'built' });
        return;
      case 'listen':
        if (!app) return;
        await app.attach(h, m.i);
        if (++attached === app.listeners) send({ type: 'ready' });
        return;
      case 'ask':
        try {
          send({ type: 'answer', id: m.id, value: await app?.onAsk?.(m.body) });
        } catch (e) {
          send({ type: 'answer', id: m.id, value: undefined, error: (e as Error).message });
        }
        return;
      case 'tell':
        app?.onTell?.(m.body);
        return;
      case 'answer':
        pending.get(m.id)?.(m.value);
        pending.delete(m.id);
        return;
      case 'metrics':
        send({ type: 'metrics', id: m.id, metrics: await metrics.getMetricsAsJSON() });
        return;
      case 'stop':
        return stop(0);
    }
  };

  process.on('message', (m: ToWorker, h: unknown) => {
    handle(m, h).catch((e: unknown) => {
      send({ type: 'failed', message: (e as Error).message });
      void stop(1);
    });
  });
  // the zone's process is gone: nothing would stop this worker otherwise
  process.on('disconnect', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  // a worker is a process of its own: the system clock is the one it has
  systemClock.setInterval(500, () => {
    if (requests === 0) return;
    send({ type: 'requests', n: requests });
    requests = 0;
  });
}
