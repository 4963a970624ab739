import { parseArgs } from 'node:util';
import { request } from 'undici';
import { controlUrl } from './cmd-drill.ts';
import { EX_USAGE, type Io } from './io.ts';

/**
 * `multizone failover --zone Z` (planned, RPO 0: drain Z's shards, wait for replication lag
 * 0, move them to Z's backups) and `multizone failback --zone Z` (bring Z's home shards
 * back), against the running cluster's control API.
 */
export async function cmdFailover(which: 'failover' | 'failback', args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      zone: { type: 'string' },
      control: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!values.zone) {
    io.err(`usage: multizone ${which} --zone Z [--control URL | --config FILE] [--json]`);
    return EX_USAGE;
  }
  const url = `${controlUrl(values)}/api/${which}`;
  let status: number;
  let body: Record<string, unknown>;
  try {
    const r = await request(url, {
      method: 'POST',
      body: JSON.stringify({ zone: values.zone }),
      headersTimeout: 600_000,
    });
    status = r.statusCode;
    body = (await r.body.json()) as Record<string, unknown>;
  } catch (e) {
    io.err(`multizone: cannot reach the control API at ${url}: ${(e as Error).message}`);
    return 1;
  }
  if (values.json) io.out(JSON.stringify(body));
  else if (status === 200)
    io.out(`${which} ${values.zone}: moved ${body.moved} shard(s) in ${body.tookMs} ms (see GET /api/audit)`);
  else io.err(`multizone: ${which} ${values.zone} failed: ${body.message ?? ''} (${body.error ?? status})`);
  return status === 200 ? 0 : 1;
}
