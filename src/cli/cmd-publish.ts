import { parseArgs } from 'node:util';
import { publish } from '../edge/index.ts';
import type { Io } from './io.ts';

function bar(done: number, total: number, width = 24): string {
  const n = total ? Math.round((done / total) * width) : width;
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${done}/${total}`;
}

/**
 * `multizone publish DIR --edge URL [--edge URL2] --token T [--prefix /static] [--manifest FILE]`:
 * fingerprints every file, writes a manifest (original name → versioned URL) and pushes each
 * file to every edge with Cache-Control: public, max-age=31536000, immutable.
 */
export async function cmdPublish(
  args: string[],
  io: Io,
  deps: { fetch?: typeof fetch; tty?: boolean } = {},
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      edge: { type: 'string', multiple: true },
      token: { type: 'string' },
      prefix: { type: 'string', default: '' },
      manifest: { type: 'string' },
      host: { type: 'string' },
    },
  });
  const dir = positionals[0];
  const edges = values.edge ?? [];
  const token = values.token ?? process.env.MZ_EDGE_TOKEN;
  if (!dir || edges.length === 0 || !token) {
    io.err('usage: multizone publish DIR --edge URL [--edge URL]... --token T [--prefix /static] [--manifest FILE]');
    return 64;
  }
  const tty = deps.tty ?? process.stderr.isTTY === true;
  const r = await publish({
    dir,
    edges,
    token,
    prefix: values.prefix ?? '',
    ...(values.manifest ? { manifestFile: values.manifest } : {}),
    ...(values.host ? { host: values.host } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    onPushed: (p) => {
      const line = `${bar(p.done, p.total)} ${p.url}`;
      if (tty) process.stderr.write(`\r${line.padEnd(78).slice(0, 78)}`);
      else io.err(line);
    },
  });
  if (tty) process.stderr.write('\n');
  io.out(`published ${r.files} files (${r.bytes} bytes) to ${edges.length} edge(s); manifest ${r.manifestFile}`);
  return 0;
}
