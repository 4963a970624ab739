import { hasCode } from '../core/errors.ts';
import type { Topology } from '../topology/index.ts';
import { clusterAdminToken, clusterSecret, trustErrors } from '../trust/index.ts';
import { EX_CONFIG, type Io } from './io.ts';

/** What `multizone up` hands the cluster: the secret zones sign with, and the edge admin token it made (if any). */
export interface UpTrust {
  secret: Uint8Array;
  adminToken: string | undefined;
}

/**
 * The cluster secret and edge admin token of `multizone up`: `trust.secretFile`, or (running
 * every zone) `<store.dataDir>/cluster-secret`, made on first start. With no `edge.adminToken`
 * and no MZ_EDGE_TOKEN, the admin token is derived from the secret and kept in
 * `<store.dataDir>/admin-token` (one line, mode 0600), which `multizone publish` reads; where
 * it lives is said once, when it is made. A process running some zones without
 * `trust.secretFile` gets EX_CONFIG (78) and a message saying what to set.
 */
export function upTrust(
  topology: Topology,
  zones: readonly string[] | undefined,
  file: string | undefined,
  io: Io,
): UpTrust | number {
  for (const z of zones ?? []) topology.zone(z); // an unknown zone is that error, not a missing secret
  const allZones = zones === undefined || topology.zones.every((z) => zones.includes(z.name));
  let secret: Uint8Array;
  try {
    secret = clusterSecret(topology, { allZones, ...(file ? { file } : {}) }).value;
  } catch (e) {
    if (!hasCode(e, trustErrors.ERR_TRUST_NO_SECRET) && !hasCode(e, trustErrors.ERR_TRUST_BAD_SECRET)) throw e;
    io.err(`multizone: ${(e as Error).message}`);
    io.err(`(${(e as { code: string }).code})`);
    return EX_CONFIG;
  }
  if (topology.config.edge.adminToken || process.env.MZ_EDGE_TOKEN) return { secret, adminToken: undefined };
  const token = clusterAdminToken(topology, secret);
  if (token.created)
    io.err(
      `multizone: the edge admin API token (purge, push, preload) is in ${token.path}; multizone publish reads it`,
    );
  return { secret, adminToken: token.value };
}
