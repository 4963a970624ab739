import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Topology } from '../topology/index.ts';
import { trustErrors } from './errors.ts';
import { deriveFromSecret, MIN_SECRET_BYTES } from './signer.ts';

/** The cluster secret `multizone up` keeps in `store.dataDir`. */
export const SECRET_FILE_NAME = 'cluster-secret';
/** The edge admin token file in `store.dataDir` (one line; `multizone publish` reads it). */
export const ADMIN_TOKEN_FILE_NAME = 'admin-token';

/** A file of this package's: its content and whether this call created it. */
export interface KeptFile<T> {
  path: string;
  value: T;
  created: boolean;
}

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Writes `text` to a new file, mode 0600 (never over an existing one); false when it already exists. */
export function createPrivate(path: string, text: string): boolean {
  mkdirSync(dirname(path), { recursive: true });
  try {
    writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  chmodSync(path, 0o600); // the umask may have taken bits off, never added: make it exact
  return true;
}

/** Parses a secret file's text: 64+ hex characters (32+ bytes), surrounding whitespace ignored. */
function parseSecret(text: string, path: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length % 2 !== 0 || hex.length < 2 * MIN_SECRET_BYTES)
    throw trustErrors.ERR_TRUST_BAD_SECRET(
      `trust: ${path} must hold at least ${2 * MIN_SECRET_BYTES} hex characters (${MIN_SECRET_BYTES} random bytes), e.g. from \`openssl rand -hex 32\``,
    );
  return Buffer.from(hex, 'hex');
}

/** Reads the cluster secret from `path`: ERR_TRUST_NO_SECRET when it does not exist, ERR_TRUST_BAD_SECRET when unusable. */
export function readSecretFile(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (isMissing(e))
      throw trustErrors.ERR_TRUST_NO_SECRET(
        `trust: the cluster secret file ${path} (trust.secretFile) does not exist; copy the cluster-secret file \`multizone up\` wrote, or write one with \`openssl rand -hex 32 > ${path}; chmod 600 ${path}\``,
        { cause: e },
      );
    throw trustErrors.ERR_TRUST_BAD_SECRET(`trust: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseSecret(text, path);
}

/** The secret at `path`, creating it (32 random bytes, hex, mode 0600) on first use. */
export function ensureSecretFile(path: string): KeptFile<Buffer> {
  const created = createPrivate(path, `${randomBytes(32).toString('hex')}\n`);
  return { path, value: readSecretFile(path), created };
}

/** The token at `path`, creating it with `token` (one line, mode 0600) on first use. */
export function ensureTokenFile(path: string, token: string): KeptFile<string> {
  const created = createPrivate(path, `${token}\n`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw trustErrors.ERR_TRUST_BAD_SECRET(`trust: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!text) throw trustErrors.ERR_TRUST_BAD_SECRET(`trust: ${path} is empty; delete it to get a new token`);
  return { path, value: text, created };
}

/**
 * The cluster secret a process uses: `trust.secretFile` when set; else, for a process that
 * runs every zone (`multizone up`), `<store.dataDir>/cluster-secret`, created on first start.
 * A process running only some zones has no way to agree on a secret with the others:
 * ERR_TRUST_NO_SECRET, saying what to set.
 */
export function clusterSecret(topology: Topology, opts: { allZones: boolean; file?: string }): KeptFile<Buffer> {
  const configured = topology.config.trust.secretFile;
  if (configured) return { path: configured, value: readSecretFile(configured), created: false };
  if (!opts.allZones)
    throw trustErrors.ERR_TRUST_NO_SECRET(
      `trust: a process running only some zones needs the cluster's shared secret: set trust.secretFile in ${opts.file ?? 'the topology file'} to a file every zone process can read (64 hex characters, mode 0600; \`multizone up\` writes one to ${join(topology.config.store.dataDir, SECRET_FILE_NAME)})`,
    );
  return ensureSecretFile(join(topology.config.store.dataDir, SECRET_FILE_NAME));
}

/** The per-cluster edge admin token: derived from the secret, kept in `<store.dataDir>/admin-token`. */
export function clusterAdminToken(topology: Topology, secret: Uint8Array): KeptFile<string> {
  return ensureTokenFile(
    join(topology.config.store.dataDir, ADMIN_TOKEN_FILE_NAME),
    deriveFromSecret(secret, 'edge admin token'),
  );
}
