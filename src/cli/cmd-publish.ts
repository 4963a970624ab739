import { renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { hasCode, isPlatformError } from '../core/errors.ts';
import { edgeErrors, publish } from '../edge/index.ts';
import { usage } from './commands.ts';
import { connectCause } from './control-client.ts';
import { adminToken, edgeReason } from './edge-admin.ts';
import { cliErrors } from './errors.ts';
import type { Io } from './io.ts';
import { OPTIONS } from './options.ts';

function bar(done: number, total: number, width = 24): string {
  const n = total ? Math.round((done / total) * width) : width;
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${done}/${total}`;
}

/**
 * `multizone publish DIR --edge URL [--edge URL2] [--token T] [--prefix /static] [--manifest FILE]`:
 * fingerprints every file, pushes each to every edge with Cache-Control: public,
 * max-age=31536000, immutable, and only then writes the manifest (original name → versioned
 * URL), atomically: a failed push leaves the previous manifest as it was. A failure names
 * the edge's URL and the cause (ECONNREFUSED…) or the edge's own reason (ERR_EDGE_PUBLISH).
 */
export async function cmdPublish(
  args: string[],
  io: Io,
  deps: { fetch?: typeof fetch; tty?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: OPTIONS.publish,
  });
  const dir = positionals[0];
  const edges = values.edge ?? [];
  if (!dir || positionals.length > 1) return usage(io, 'publish', 'give one DIR to publish');
  if (edges.length === 0) return usage(io, 'publish', 'give at least one --edge URL');
  if (!isFolder(dir))
    throw cliErrors.ERR_CLI_NOT_A_DIR(`publish: ${resolve(dir)} is not a folder (nothing to publish)`);
  const token = adminToken(values, deps.env);
  const manifestFile = resolve(values.manifest ?? join(dir, 'manifest.json'));
  if (!isFolder(dirname(manifestFile)))
    throw cliErrors.ERR_CLI_NOT_A_DIR(`publish: --manifest ${manifestFile}: its folder does not exist`);
  // written beside the manifest (a dotfile, so publish skips it) and renamed over it on success
  const partial = join(dirname(manifestFile), `.${basename(manifestFile)}.${process.pid}.partial`);
  const tty = deps.tty ?? process.stderr.isTTY === true;
  // the edge's answer to the last push: publish() keeps only the status of a refusal
  let last: { url: string; reason?: string } = { url: '' };
  const send = deps.fetch ?? fetch;
  const watched: typeof fetch = async (input, init) => {
    last = { url: String(input) };
    const r = await send(input, init);
    if (r.status === 201) return r;
    const text = await r.text();
    last.reason = edgeReason({ status: r.status, text });
    return new Response([204, 205, 304].includes(r.status) ? null : text, { status: r.status });
  };
  let r: Awaited<ReturnType<typeof publish>>;
  try {
    r = await publish({
      dir,
      edges,
      token,
      prefix: values.prefix ?? '',
      manifestFile: partial,
      ...(values.host ? { host: values.host } : {}),
      fetch: watched,
      onPushed: (p) => {
        const line = `${bar(p.done, p.total)} ${p.url}`;
        if (tty) process.stderr.write(`\r${line.padEnd(78).slice(0, 78)}`);
        else io.err(line);
      },
    });
    renameSync(partial, manifestFile);
  } catch (e) {
    rmSync(partial, { force: true });
    if (tty) process.stderr.write('\n');
    throw explain(e, last);
  }
  if (tty) process.stderr.write('\n');
  io.out(`published ${r.files} files (${r.bytes} bytes) to ${edges.length} edge(s); manifest ${manifestFile}`);
  return 0;
}

function isFolder(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A publish failure with the URL and cause, or the edge's reason; the manifest was not written. */
function explain(e: unknown, last: { url: string; reason?: string }): unknown {
  if (!isPlatformError(e) || !hasCode(e, edgeErrors.ERR_EDGE_PUBLISH)) return e;
  const where = last.url ? last.url.replace(/\?.*$/, '') : 'the edge';
  const kept = 'the manifest was not written';
  if (e.details?.status !== undefined)
    return edgeErrors.ERR_EDGE_PUBLISH(
      `publish: ${String(e.details.edge)} refused ${String(e.details.file)}: ${last.reason ?? `HTTP ${e.details.status}`}; ${kept}`,
      { cause: e, details: { ...e.details, ...(last.reason ? { reason: last.reason } : {}) } },
    );
  return edgeErrors.ERR_EDGE_PUBLISH(
    `publish: cannot reach the edge at ${where} (${connectCause(e.cause ?? e)}); ${kept}`,
    {
      cause: e,
    },
  );
}
