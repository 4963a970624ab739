// Preloaded into the soak's cluster process (`node --expose-gc --import ./bench/soak/probe.mjs
// bin/multizone.js up …`): answers the soak over IPC, so what is measured is the cluster's own
// memory, not the load generator's, and the product needs no debug route.
//   { t: 'sample', id }          → { t: 'sample', id, rss, heapUsed, heapTotal, external, arrayBuffers, handles, lag… }
//                                  heap figures after a full GC (what is still reachable)
//   { t: 'snapshot', id, path }  → { t: 'snapshot', id, file }   (v8.writeHeapSnapshot, after a GC)
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';

if (process.send) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};
  const ms = (ns) => ns / 1e6;
  process.on('message', (m) => {
    if (m?.t === 'sample') {
      // the lag first: the forced GC below would show up in it
      const lag = { lagP50: ms(delay.percentile(50)), lagP99: ms(delay.percentile(99)), lagMax: ms(delay.max) };
      delay.reset();
      gc();
      const mu = process.memoryUsage();
      process.send({
        t: 'sample',
        id: m.id,
        rss: mu.rss,
        heapUsed: mu.heapUsed,
        heapTotal: mu.heapTotal,
        external: mu.external,
        arrayBuffers: mu.arrayBuffers,
        handles: process.getActiveResourcesInfo().length,
        ...lag,
      });
    } else if (m?.t === 'snapshot') {
      gc();
      process.send({ t: 'snapshot', id: m.id, file: writeHeapSnapshot(m.path) });
    }
  });
  // the channel must not keep the process up once the cluster has stopped
  process.channel?.unref();
  // the soak went away (killed, crashed): stop the cluster as Ctrl-C would, never leave it running
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
