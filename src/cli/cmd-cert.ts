import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeDevCert } from '../edge/index.ts';
import type { Io } from './io.ts';

/** `multizone cert [--out DIR] [--host NAME…]`: writes DIR/cert.pem and DIR/key.pem. */
export async function cmdCert(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { out: { type: 'string', default: '.' }, host: { type: 'string', multiple: true } },
  });
  const hosts = values.host?.length ? values.host : ['localhost'];
  const dir = resolve(values.out ?? '.');
  const c = await makeDevCert(hosts);
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  writeFileSync(certFile, c.cert);
  writeFileSync(keyFile, c.key, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  io.out(`wrote ${certFile} and ${keyFile} (self-signed, for development) for ${c.names.join(', ')}`);
  io.out(`use it in the topology:\n  httpdns:\n    tls: { cert: ${certFile}, key: ${keyFile} }`);
  return 0;
}
