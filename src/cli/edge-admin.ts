/**
 * What `multizone publish` and `multizone purge` share: where the edges' admin token comes
 * from, and how a failed admin call is told (the URL and the connection's cause, or the
 * edge's own reason from its JSON error body).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadTopology } from '../topology/index.ts';
import { connectCause } from './control-client.ts';
import { cliErrors } from './errors.ts';

/** Environment variables holding the admin token, first wins (MZ_EDGE_TOKEN: the older name). */
export const TOKEN_ENV = ['MULTIZONE_ADMIN_TOKEN', 'MZ_EDGE_TOKEN'] as const;

/** The file `multizone up` keeps the admin token in: `<store.dataDir>/admin-token` of the topology. */
export function adminTokenFile(config: string | undefined): string {
  return join(resolve(loadTopology(config).config.store.dataDir), 'admin-token');
}

/**
 * The admin token: `--token`, else $MULTIZONE_ADMIN_TOKEN (or $MZ_EDGE_TOKEN), else the first
 * line of `<store.dataDir>/admin-token` of --config's topology. None: ERR_CLI_NO_TOKEN naming
 * every place looked at.
 */
export function adminToken(
  values: { token?: string | undefined; config?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (values.token) return values.token;
  for (const name of TOKEN_ENV) {
    const v = env[name]?.trim();
    if (v) return v;
  }
  const file = adminTokenFile(values.config);
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw cliErrors.ERR_CLI_NO_TOKEN(`cannot read the admin token file ${file}: ${(e as Error).message}`, {
        cause: e,
      });
  }
  const token = text?.split(/\r?\n/)[0]?.trim();
  if (token) return token;
  throw cliErrors.ERR_CLI_NO_TOKEN(
    `no admin token: give --token T, or set ${TOKEN_ENV.join(' or ')}, or run the cluster with multizone up, ` +
      `which keeps it in ${file} (${text === undefined ? 'not there' : 'empty'}; --config FILE picks another topology's store.dataDir)`,
  );
}

/** An edge's answer to an admin call. */
export interface EdgeReply {
  status: number;
  /** The body as text (the edges answer JSON). */
  text: string;
}

/** Calls an edge's admin API; throws ERR_CLI_EDGE_UNREACHABLE naming the URL and the cause. */
export async function edgeCall(url: string, init: RequestInit, f: typeof fetch = fetch): Promise<EdgeReply> {
  try {
    const r = await f(url, init);
    return { status: r.status, text: await r.text() };
  } catch (e) {
    throw cliErrors.ERR_CLI_EDGE_UNREACHABLE(`cannot reach the edge at ${url} (${connectCause(e)})`, { cause: e });
  }
}

/** The edge's reason for refusing a call: `message (CODE)` from its JSON error body, else its status. */
export function edgeReason(r: EdgeReply): string {
  try {
    const j = JSON.parse(r.text) as { error?: unknown; message?: unknown };
    if (typeof j.error === 'string')
      return `HTTP ${r.status}: ${typeof j.message === 'string' ? j.message : 'refused'} (${j.error})`;
  } catch {}
  const t = r.text.trim().slice(0, 200);
  return `HTTP ${r.status}${t ? `: ${t}` : ''}`;
}
