import { systemClock } from '../../../src/core/clock.ts';
import { JetStreamLog } from '../../../src/replication/index.ts';
import { natsUrl, reachable } from '../store/services.ts';
import { logContract } from './log.contract.ts';

logContract('jetstream', async () => {
  if (!(await reachable('nats'))) return undefined;
  const run = `MZT${Math.floor(Math.random() * 1e9)
    .toString(36)
    .toUpperCase()}`;
  const opened: { log: JetStreamLog; ns: string }[] = [];
  return {
    open: async (ns) => {
      const log = await JetStreamLog.connect({
        servers: natsUrl(),
        prefix: `${run}${ns}`,
        clock: systemClock,
        storage: 'memory',
      });
      opened.push({ log, ns });
      return log;
    },
    cleanup: async () => {
      for (const ns of new Set(opened.map((o) => o.ns))) {
        const l = await JetStreamLog.connect({ servers: natsUrl(), prefix: `${run}${ns}`, clock: systemClock });
        await l.deleteStreams(['sh-a', 'sh-b', 'bj-a', 'gz-a']);
        await l.close();
      }
    },
  };
});
