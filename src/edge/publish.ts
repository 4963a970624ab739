import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { edgeErrors } from './errors.ts';

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

/** What to publish where; `onPushed` is told of every file an edge took (progress). */
export interface PublishOptions {
  dir: string;
  edges: readonly string[];
  token: string;
  /** URL prefix of the versioned names ('/static'), '' for none. */
  prefix?: string;
  /** Where the manifest goes (default DIR/manifest.json). */
  manifestFile?: string;
  /** Host header the objects are cached under, when the edge serves several. */
  host?: string;
  fetch?: typeof fetch;
  onPushed?(p: { done: number; total: number; url: string }): void;
}

/**
 * Fingerprints every file of DIR, writes the manifest (original name → versioned URL) and
 * pushes each file to every edge's admin API with `Cache-Control: immutable`. An edge that
 * cannot be reached or refuses a file fails the publish (ERR_EDGE_PUBLISH) with its reason.
 */
export async function publish(o: PublishOptions): Promise<{ files: number; bytes: number; manifestFile: string }> {
  const items = planPublish(o.dir, (o.prefix ?? '').replace(/\/$/, ''));
  const manifestFile = o.manifestFile ?? join(resolve(o.dir), 'manifest.json');
  writeFileSync(manifestFile, `${JSON.stringify(Object.fromEntries(items.map((i) => [i.file, i.url])), null, 2)}\n`);
  const total = items.length * o.edges.length;
  let done = 0;
  let bytes = 0;
  for (const edge of o.edges)
    for (const it of items) {
      const body = readFileSync(join(resolve(o.dir), it.file));
      await pushItem(o, edge, it, body);
      bytes += body.length;
      o.onPushed?.({ done: ++done, total, url: it.url });
    }
  return { files: items.length, bytes, manifestFile };
}

async function pushItem(o: PublishOptions, edge: string, it: PublishItem, body: Buffer<ArrayBuffer>): Promise<void> {
  const q = new URLSearchParams({ url: it.url });
  if (o.host) q.set('host', o.host);
  let status = 0;
  try {
    const r = await (o.fetch ?? fetch)(`${edge.replace(/\/$/, '')}/.mz/push?${q}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${o.token}`,
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
}
