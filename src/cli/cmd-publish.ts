import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { edgeErrors } from '../edge/index.ts';
import type { Io } from './main.ts';

/** Content types by extension for published assets (anything else: application/octet-stream). */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.mjs': 'application/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Versioned assets never change under their name, so clients and edges may keep them a year. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

/** One file to publish. */
export interface PublishItem {
  /** Path relative to DIR, with forward slashes ("css/site.css"). */
  file: string;
  /** URL path with the content hash in the name ("/css/site.3f2a9c1b2d.css"). */
  url: string;
  hash: string;
  type: string;
  bytes: number;
}

/** "css/site.css" + hash → "/css/site.<hash10>.css" (the hash goes before the last extension). */
export function fingerprintName(file: string, hash: string, prefix = ''): string {
  const ext = extname(file);
  const stem = ext ? file.slice(0, -ext.length) : file;
  return `${prefix}/${stem}.${hash.slice(0, 10)}${ext}`;
}

/** Walks DIR (skipping dotfiles and the manifest) and fingerprints every file. */
export function planPublish(dir: string, prefix = '', manifestName = 'manifest.json'): PublishItem[] {
  const root = resolve(dir);
  const out: PublishItem[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const file = relative(root, p).split(sep).join('/');
        if (file === manifestName) continue;
        const body = readFileSync(p);
        const hash = createHash('sha256').update(body).digest('hex');
        out.push({
          file,
          url: fingerprintName(file, hash, prefix),
          hash,
          type: TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
          bytes: body.length,
        });
      }
    }
  };
  walk(root);
  return out;
}

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
  const doFetch = deps.fetch ?? fetch;
  const tty = deps.tty ?? process.stderr.isTTY === true;
  const prefix = (values.prefix ?? '').replace(/\/$/, '');
  const items = planPublish(dir, prefix);
  const manifestFile = values.manifest ?? join(resolve(dir), 'manifest.json');
  const manifest = Object.fromEntries(items.map((i) => [i.file, i.url]));
  writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  const total = items.length * edges.length;
  let done = 0;
  let bytes = 0;
  for (const edge of edges) {
    for (const it of items) {
      const body = readFileSync(join(resolve(dir), it.file));
      const q = new URLSearchParams({ url: it.url });
      if (values.host) q.set('host', values.host);
      let status = 0;
      try {
        const r = await doFetch(`${edge.replace(/\/$/, '')}/.mz/push?${q}`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': it.type,
            'cache-control': IMMUTABLE,
            etag: `"${it.hash.slice(0, 16)}"`,
          },
          body,
        });
        status = r.status;
        await r.arrayBuffer();
      } catch (e) {
        throw edgeErrors.ERR_EDGE_PUBLISH(`publish: cannot reach ${edge}: ${(e as Error).message}`, { cause: e });
      }
      if (status !== 201)
        throw edgeErrors.ERR_EDGE_PUBLISH(`publish: ${edge} refused ${it.file} (HTTP ${status})`, {
          details: { edge, file: it.file, status },
        });
      done++;
      bytes += body.length;
      const line = `${bar(done, total)} ${it.url}`;
      if (tty) process.stderr.write(`\r${line.padEnd(78).slice(0, 78)}`);
      else io.err(line);
    }
  }
  if (tty) process.stderr.write('\n');
  io.out(`published ${items.length} files (${bytes} bytes) to ${edges.length} edge(s); manifest ${manifestFile}`);
  return 0;
}
