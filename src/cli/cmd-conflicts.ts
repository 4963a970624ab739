import { parseArgs } from 'node:util';
import { request } from 'undici';
import { loadTopology, parseHostPort } from '../topology/index.ts';
import { EX_USAGE, type Io } from './io.ts';
import { renderTable } from './table.ts';

interface ConflictJson {
  id: string;
  shard: number;
  zones: string[];
  candidates: { origin: string; version: number; value: unknown; deleted: boolean }[];
}

function controlUrl(values: { control?: string; config?: string }): string {
  if (values.control) return values.control.replace(/\/$/, '');
  const hp = parseHostPort(loadTopology(values.config).config.control.listen);
  return `http://${hp.host === '0.0.0.0' ? '127.0.0.1' : hp.host}:${hp.port}`;
}

async function call(url: string, method: 'GET' | 'POST', body?: unknown): Promise<{ status: number; json: unknown }> {
  const r = await request(url, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  });
  return { status: r.statusCode, json: await r.body.json() };
}

function brief(v: unknown, deleted: boolean): string {
  if (deleted) return '(deleted)';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/**
 * `multizone conflicts` lists locked records through the control API;
 * `multizone conflicts resolve ID --pick ZONE|VERSION` resolves one.
 */
export async function cmdConflicts(args: string[], io: Io): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      control: { type: 'string' },
      config: { type: 'string' },
      pick: { type: 'string' },
      zone: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const base = controlUrl(values);
  if (positionals[0] === 'resolve') {
    const id = positionals[1];
    if (!id || !values.pick) {
      io.err('usage: multizone conflicts resolve RESOURCE/KEY --pick ZONE|VERSION [--zone Z] [--control URL]');
      return EX_USAGE;
    }
    const r = await call(`${base}/api/conflicts/resolve`, 'POST', { id, pick: values.pick, zone: values.zone });
    const j = r.json as { error?: string; message?: string; zone?: string; version?: number };
    if (r.status !== 200) {
      io.err(`multizone: ${j.message ?? 'resolve failed'}\n(${j.error ?? r.status})`);
      return 1;
    }
    if (values.json) io.out(JSON.stringify(j));
    else
      io.out(
        `resolved ${id}: picked ${values.pick}, written in ${j.zone} as version ${j.version}; it replicates and unlocks everywhere`,
      );
    return 0;
  }
  if (positionals.length > 0) {
    io.err(
      `multizone: unknown conflicts subcommand "${positionals[0]}" (use: conflicts, conflicts resolve ID --pick X)`,
    );
    return EX_USAGE;
  }
  const r = await call(`${base}/api/conflicts`, 'GET');
  const list = (r.json as { conflicts?: ConflictJson[] }).conflicts ?? [];
  if (values.json) {
    io.out(JSON.stringify({ conflicts: list }));
    return 0;
  }
  if (list.length === 0) {
    io.out('no conflicts');
    return 0;
  }
  io.out(
    renderTable(
      ['id', 'shard', 'locked in', 'versions (pick by zone or version)'],
      list.map((c) => [
        c.id,
        c.shard,
        c.zones.join(','),
        c.candidates.map((x) => `${x.origin} v${x.version} ${brief(x.value, x.deleted)}`).join('  |  '),
      ]),
    ),
  );
  io.out(`\n${list.length} locked record(s); resolve one with: multizone conflicts resolve ID --pick ZONE|VERSION`);
  return 0;
}
