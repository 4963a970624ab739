import { parseArgs } from 'node:util';
import { controlErrors } from '../control/index.ts';
import type { TableConflict } from '../replication/index.ts';
import { usage } from './commands.ts';
import { controlCall, controlUrl, replyProblem } from './control-client.ts';
import type { Io } from './io.ts';
import { OPTIONS } from './options.ts';
import { resolveAllConflicts } from './resolve-all.ts';
import { renderTable } from './table.ts';

interface ConflictJson {
  id: string;
  shard: number;
  zones: string[];
  candidates: { origin: string; version: number; value: unknown; deleted: boolean }[];
}

/** A locked row of an app table (replication.tables), as GET /api/conflicts lists it under `tables`. */
type TableConflictJson = Pick<
  TableConflict,
  'id' | 'zone' | 'table' | 'key' | 'origin' | 'local' | 'remote' | 'reason'
>;

function brief(v: unknown, deleted: boolean): string {
  if (deleted) return '(deleted)';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** `conflicts resolve --all`: every open conflict (of --resource) by one zone's version, on every alive process. */
async function resolveAll(
  base: string,
  v: { 'pick-zone'?: string; resource?: string; 'dry-run'?: boolean; json?: boolean },
  io: Io,
): Promise<number> {
  const pickZone = v['pick-zone']!;
  let r: Awaited<ReturnType<typeof resolveAllConflicts>>;
  try {
    r = await resolveAllConflicts(base, { pickZone, resource: v.resource, dryRun: v['dry-run'] === true });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    io.err(`multizone: ${(e as Error).message}${typeof code === 'string' ? ` (${code})` : ''}`);
    return 1;
  }
  if (v.json) io.out(JSON.stringify(r));
  else {
    const scope = v.resource ? ` of ${v.resource}` : '';
    const verb = r.dryRun ? 'would resolve' : 'resolved';
    io.out(`${verb} ${r.resolved.length} conflict(s)${scope} by picking ${pickZone}'s version`);
    for (const id of r.resolved) io.out(`  ${id}`);
    if (r.skipped.length > 0) {
      io.out(`${r.dryRun ? 'would skip' : 'skipped'} ${r.skipped.length} (left open):`);
      for (const s of r.skipped) io.out(`  ${s.id}: ${s.reason}${s.code ? ` (${s.code})` : ''}`);
    }
    for (const f of r.failed) io.err(`multizone: ${f.error}; that process's conflicts may still be open`);
    if (!r.dryRun && r.resolved.length > 0) io.out('the resolutions replicate and unlock the records everywhere');
  }
  return r.skipped.length === 0 && r.failed.length === 0 ? 0 : 1;
}

/**
 * The cluster-wide form of a conflicts route (`/api/cluster/conflicts…`: every process's
 * conflicts, from any one's control API), or the process's own route when the control API
 * has no cluster form (404).
 */
async function clusterCall(base: string, path: string, method: 'GET' | 'POST', body?: unknown) {
  const r = await controlCall(base, path.replace('/api/', '/api/cluster/'), method, body);
  const code = (r.json as { error?: unknown } | undefined)?.error;
  return r.status === 404 && code === controlErrors.ERR_CONTROL_NOT_FOUND.code
    ? controlCall(base, path, method, body)
    : r;
}

/**
 * `multizone conflicts` lists locked records through the control API;
 * `multizone conflicts resolve ID --pick ZONE|VERSION` resolves one;
 * `multizone conflicts resolve --all --pick-zone ZONE` resolves every one by a zone's version.
 * Exit 0 when done (and, for --all, nothing was left open), 1 when something failed or was skipped, 64 on usage errors.
 */
export async function cmdConflicts(args: string[], io: Io): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: OPTIONS.conflicts,
  });
  const base = controlUrl(values);
  const bulk = values['pick-zone'] !== undefined || values.resource !== undefined || values['dry-run'] === true;
  if (positionals[0] === 'resolve' && values.all) {
    if (!values['pick-zone'] || positionals.length > 1 || values.pick !== undefined || values.zone !== undefined)
      return usage(io, 'conflicts', '--all takes --pick-zone, not an ID, --pick or --zone');
    return resolveAll(base, values, io);
  }
  if (values.all || bulk)
    return usage(io, 'conflicts', '--pick-zone, --resource and --dry-run go with conflicts resolve --all');
  if (positionals[0] === 'resolve') {
    const id = positionals[1];
    if (!id || !values.pick) return usage(io, 'conflicts', 'conflicts resolve needs an ID and --pick ZONE|VERSION');
    const r = await clusterCall(base, '/api/conflicts/resolve', 'POST', { id, pick: values.pick, zone: values.zone });
    const j = (r.json ?? {}) as { zone?: string; version?: number };
    if (r.status !== 200) {
      io.err(`multizone: ${replyProblem(r, base)}`);
      return 1;
    }
    if (values.json) io.out(JSON.stringify(j));
    else if (id.startsWith('table:'))
      io.out(`resolved ${id}: picked ${values.pick}'s row, written in ${j.zone}; it replicates and unlocks everywhere`);
    else
      io.out(
        `resolved ${id}: picked ${values.pick}, written in ${j.zone} as version ${j.version}; it replicates and unlocks everywhere`,
      );
    return 0;
  }
  if (positionals.length > 0) return usage(io, 'conflicts', `unknown conflicts subcommand "${positionals[0]}"`);
  const r = await clusterCall(base, '/api/conflicts', 'GET');
  const list = (r.json as { conflicts?: ConflictJson[] } | undefined)?.conflicts;
  // distributed mode: a process that did not answer leaves its zones' conflicts out; say so
  const unreached = (r.json as { unreached?: { process: string; zones: string[]; error: string }[] } | undefined)
    ?.unreached;
  for (const u of unreached ?? [])
    io.err(
      `multizone: ${u.zones.join(',') || u.process}: ${u.error.replace(/^.*?(not answering)/, '$1')}; its conflicts are not listed`,
    );
  const tables = (r.json as { tables?: TableConflictJson[] } | undefined)?.tables ?? [];
  if (r.status !== 200 || !Array.isArray(list)) {
    io.err(`multizone: ${replyProblem(r, base)}`);
    return 1;
  }
  if (values.json) {
    io.out(JSON.stringify({ conflicts: list, ...(tables.length ? { tables } : {}) }));
    return 0;
  }
  if (list.length === 0 && tables.length === 0) {
    io.out('no conflicts');
    return 0;
  }
  if (tables.length > 0) {
    // rows of the app's own tables (replication.tables) locked by concurrent writes in two zones
    io.out(
      renderTable(
        ['id', 'table', 'key', 'rows (pick by zone)'],
        tables.map((c) => [
          c.id,
          c.table,
          c.key,
          `${c.zone} ${brief(c.local, c.local === null)}  |  ${c.origin} ${brief(c.remote, c.remote === null)}`,
        ]),
      ),
    );
    // rows a zone's database refused (a unique or other constraint), with its reason
    for (const c of tables.filter((x) => x.reason))
      io.out(`${c.id}: ${c.zone}'s database refused ${c.origin}'s row: ${c.reason}`);
    io.out(`\n${tables.length} locked table row(s); resolve one with: multizone conflicts resolve ID --pick ZONE`);
    if (list.length === 0) return 0;
    io.out('');
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
  io.out(
    `\n${list.length} locked record(s); resolve one with: multizone conflicts resolve ID --pick ZONE|VERSION` +
      '\n(or all by one zone: multizone conflicts resolve --all --pick-zone ZONE [--resource NAME] [--dry-run])',
  );
  return 0;
}
