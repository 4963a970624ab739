import { defineErrors } from '../core/errors.ts';

/** Error codes of zone-to-zone trust (signed requests, internal paths, the cluster secret). */
export const trustErrors = defineErrors({
  ERR_TRUST_BAD_SIGNATURE:
    'a request claims to come from a zone (a zone signature header, or the hop/from routing headers) but has no valid signature: missing, malformed, wrong, expired (over ±30 s skew) or replayed (401)',
  ERR_TRUST_INTERNAL_PATH:
    'a public client asked for a path under /internal (after percent-decoding and dot-segment normalisation): zone-to-zone only (404)',
  ERR_TRUST_NO_SECRET:
    'a zone process has no cluster secret: set trust.secretFile in the topology (multizone up writes <store.dataDir>/cluster-secret); exit 78',
  ERR_TRUST_BAD_SECRET:
    'the cluster secret file cannot be read or is not 64+ hex characters (32+ random bytes); exit 78',
});
