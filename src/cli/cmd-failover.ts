import { parseArgs } from 'node:util';
import { usage } from './commands.ts';
import { controlCall, controlUrl, replyProblem } from './control-client.ts';
import type { Io } from './io.ts';
import { OPTIONS } from './options.ts';

/**
 * `multizone failover --zone Z` (planned, RPO 0: drain Z's shards, wait for replication lag
 * 0, move them to Z's backups) and `multizone failback --zone Z` (bring Z's home shards
 * back), against the running cluster's control API.
 */
export async function cmdFailover(which: 'failover' | 'failback', args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: OPTIONS[which] });
  if (!values.zone) return usage(io, which, '--zone Z is required');
  const base = controlUrl(values);
  const r = await controlCall(base, `/api/${which}`, 'POST', { zone: values.zone }, { headersTimeout: 600_000 });
  const status = r.status;
  const body = (r.json ?? {}) as Record<string, unknown>;
  if (r.json === undefined) {
    io.err(`multizone: ${which} ${values.zone} failed: ${replyProblem(r, base)}`);
    return 1;
  }
  if (values.json) io.out(JSON.stringify(body));
  else if (status === 200)
    io.out(`${which} ${values.zone}: moved ${body.moved} shard(s) in ${body.tookMs} ms (see GET /api/audit)`);
  else io.err(`multizone: ${which} ${values.zone} failed: ${body.message ?? ''} (${body.error ?? status})`);
  return status === 200 ? 0 : 1;
}
