import { defineErrors, type ErrorCtor } from '../core/errors.ts';

/**
 * HTTPDNS errors. Startup problems are thrown (ERR_HTTPDNS_TLS, ERR_HTTPDNS_BAD_CIDR). Request
 * problems are JSON replies `{error, message, code}`: `error` is the stable ERR_ code every
 * multizone surface answers with, `code` the short code of the HTTPDNS dialect (InvalidHost,
 * SignatureExpired, …) that HTTPDNS clients and SDKs already read.
 */
export const httpdnsErrors = defineErrors({
  ERR_HTTPDNS_TLS: 'the httpdns TLS certificate or key file could not be read',
  ERR_HTTPDNS_BAD_CIDR: 'a trusted proxy entry is not an address or CIDR',
  ERR_HTTPDNS_BAD_REQUEST:
    'an HTTPDNS request is missing a parameter or has an invalid one, or its body is not a valid report or DNS message (400; `code` says which)',
  ERR_HTTPDNS_SIGNATURE:
    'a signed HTTPDNS request was refused: unsigned, expired, too far ahead, malformed, wrong, or for an unknown account (403; `code` says which)',
  ERR_HTTPDNS_NOT_FOUND: 'no HTTPDNS route matches the path (404)',
  ERR_HTTPDNS_METHOD_NOT_ALLOWED: 'the HTTPDNS route does not take this method (405, with Allow)',
  ERR_HTTPDNS_TOO_LARGE: 'an HTTPDNS request body (413) or request target (414) is over its limit',
  ERR_HTTPDNS_UNSUPPORTED_MEDIA_TYPE: 'an HTTPDNS POST body has the wrong content type (415)',
  ERR_HTTPDNS_RATE_LIMITED: 'the client is over its HTTPDNS rate limit (429, with Retry-After)',
  ERR_HTTPDNS_INTERNAL: 'an HTTPDNS request hit an unexpected error (500); the server carries on',
});

/** Each code of the HTTPDNS dialect (the `code` field) with the stable ERR_ code answered beside it. */
export const DIALECT_CODES = {
  MissingArgument: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidHost: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidIp: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidQueryType: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  TooManyHosts: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidName: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidType: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidSubnet: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidBase64: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidMessage: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidJson: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  InvalidReport: httpdnsErrors.ERR_HTTPDNS_BAD_REQUEST,
  SignatureRequired: httpdnsErrors.ERR_HTTPDNS_SIGNATURE,
  SignatureExpired: httpdnsErrors.ERR_HTTPDNS_SIGNATURE,
  SignatureMismatch: httpdnsErrors.ERR_HTTPDNS_SIGNATURE,
  SignatureTooFar: httpdnsErrors.ERR_HTTPDNS_SIGNATURE,
  InvalidSignature: httpdnsErrors.ERR_HTTPDNS_SIGNATURE,
  AccountUnknown: httpdnsErrors.ERR_HTTPDNS_SIGNATURE,
  NotFound: httpdnsErrors.ERR_HTTPDNS_NOT_FOUND,
  MethodNotAllowed: httpdnsErrors.ERR_HTTPDNS_METHOD_NOT_ALLOWED,
  PayloadTooLarge: httpdnsErrors.ERR_HTTPDNS_TOO_LARGE,
  UriTooLong: httpdnsErrors.ERR_HTTPDNS_TOO_LARGE,
  UnsupportedMediaType: httpdnsErrors.ERR_HTTPDNS_UNSUPPORTED_MEDIA_TYPE,
  TooManyRequests: httpdnsErrors.ERR_HTTPDNS_RATE_LIMITED,
  InternalError: httpdnsErrors.ERR_HTTPDNS_INTERNAL,
} as const satisfies Record<string, ErrorCtor>;

/** A code of the HTTPDNS dialect. */
export type DialectCode = keyof typeof DIALECT_CODES;
