/** Zone-to-zone trust: the per-cluster secret, signed requests, internal paths. See README.md. */
export { trustErrors } from './errors.ts';
export { HmacSha256, sha256Hex } from './hmac.ts';
export { INTERNAL_SEGMENT, isInternalPath, normalisePath } from './internal-path.ts';
export {
  ADMIN_TOKEN_FILE_NAME,
  clusterAdminToken,
  clusterSecret,
  createPrivate,
  ensureSecretFile,
  ensureTokenFile,
  type KeptFile,
  readSecretFile,
  SECRET_FILE_NAME,
} from './secret-file.ts';
export {
  DEFAULT_SKEW_MS,
  deriveFromSecret,
  MIN_SECRET_BYTES,
  RequestSigner,
  type RequestSignerOptions,
  type SignableRequest,
  type Verified,
  type VerifyFailure,
} from './signer.ts';
