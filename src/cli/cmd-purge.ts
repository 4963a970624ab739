import { parseArgs } from 'node:util';
import { usage } from './commands.ts';
import { adminToken, edgeCall, edgeReason } from './edge-admin.ts';
import { cliErrors } from './errors.ts';
import type { Io } from './io.ts';
import { OPTIONS } from './options.ts';

/**
 * `multizone purge URL-OR-PREFIX... --edge URL [--edge URL]... [--token T] [--soft] [--host H]`:
 * one `POST /.mz/purge {"urls":[…],"prefixes":[…],"soft"}` per edge (src/edge/admin.ts). An
 * argument ending in `*` is a prefix (`/static/*`: every object under /static/), any other one
 * URL (a path, or an absolute URL whose host is the cached host). Exit 0 when every edge took
 * it; an edge that cannot be reached or refuses is reported with its URL and reason (exit 1),
 * the others are still purged.
 */
export async function cmdPurge(
  args: string[],
  io: Io,
  deps: { fetch?: typeof fetch; env?: NodeJS.ProcessEnv } = {},
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: OPTIONS.purge,
  });
  const edges = values.edge ?? [];
  if (positionals.length === 0) return usage(io, 'purge', 'give at least one URL or PREFIX* to purge');
  if (edges.length === 0) return usage(io, 'purge', 'give at least one --edge URL');
  const urls = positionals.filter((p) => !p.endsWith('*'));
  const prefixes = positionals.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  const token = adminToken(values, deps.env);
  const soft = values.soft === true;
  const body = JSON.stringify({ urls, prefixes, soft, ...(values.host ? { host: values.host } : {}) });
  let failed = 0;
  for (const edge of edges) {
    const url = `${edge.replace(/\/+$/, '')}/.mz/purge`;
    try {
      const r = await edgeCall(
        url,
        { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body },
        deps.fetch,
      );
      if (r.status !== 200)
        throw cliErrors.ERR_CLI_EDGE_REFUSED(`purge: the edge at ${url} refused: ${edgeReason(r)}`, {
          details: { edge, status: r.status },
        });
      const j = JSON.parse(r.text) as { purged?: number };
      if (values.json) io.out(JSON.stringify({ edge, ...j }));
      else io.out(`${edge}: ${soft ? 'marked stale' : 'purged'} ${j.purged ?? 0} object(s)`);
    } catch (e) {
      failed++;
      const code = (e as { code?: unknown }).code;
      io.err(`multizone: ${(e as Error).message}${typeof code === 'string' ? ` (${code})` : ''}`);
    }
  }
  return failed === 0 ? 0 : 1;
}
