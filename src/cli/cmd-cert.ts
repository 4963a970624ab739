import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeDevCert } from '../edge/index.ts';
import type { Io } from './io.ts';
import { OPTIONS } from './options.ts';

/** Where `multizone cert` writes without --out: beside the cluster's data, out of git's way. */
export const DEFAULT_CERT_DIR = join('.multizone', 'certs');

/**
 * `multizone cert [--out DIR] [--host NAME…]`: writes DIR/cert.pem and DIR/key.pem (0600).
 * Without --out, DIR is .multizone/certs (created 0700, with a .gitignore of `*` so the key is
 * never committed, whatever the project's own .gitignore says), never the working directory.
 */
export async function cmdCert(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: OPTIONS.cert,
  });
  const hosts = values.host?.length ? values.host : ['localhost'];
  const dir = resolve(values.out ?? DEFAULT_CERT_DIR);
  const c = await makeDevCert(hosts);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (values.out === undefined) {
    chmodSync(dir, 0o700);
    const ignore = join(dir, '.gitignore');
    if (!existsSync(ignore))
      writeFileSync(ignore, '# written by multizone cert: development keys stay out of git\n*\n');
  }
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  writeFileSync(certFile, c.cert);
  writeFileSync(keyFile, c.key, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  const shown = (f: string) => {
    const r = relative(process.cwd(), f);
    return r && !r.startsWith('..') ? r : f;
  };
  io.out(`wrote ${shown(certFile)} and ${shown(keyFile)} (self-signed, for development) for ${c.names.join(', ')}`);
  io.out(`  in ${dir}${values.out === undefined ? ' (the default; --out DIR writes elsewhere)' : ''}`);
  io.out(`use it in the topology:\n  httpdns:\n    tls: { cert: ${certFile}, key: ${keyFile} }`);
  return 0;
}
