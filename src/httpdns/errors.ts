import { defineErrors } from '../core/errors.ts';

/**
 * Startup and programming errors of the HTTPDNS server. Request problems are not thrown
 * to callers: they are JSON replies `{code, message}` with the short codes listed in
 * README.md (InvalidHost, SignatureExpired, …), the dialect HTTPDNS clients expect.
 */
export const httpdnsErrors = defineErrors({
  ERR_HTTPDNS_TLS: 'the httpdns TLS certificate or key file could not be read',
  ERR_HTTPDNS_BAD_CIDR: 'a trusted proxy entry is not an address or CIDR',
});
