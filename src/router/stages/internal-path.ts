import { HEADERS } from '../../shardmap/index.ts';
import { isInternalPath, trustErrors } from '../../trust/index.ts';
import type { Stage } from '../types.ts';

/**
 * Paths under /internal are zone-to-zone only: a request for one (however encoded: `%69`,
 * `%2e%2e`, `%2f`, backslashes, double encoding, case) without a zone's signature is answered
 * 404 here and never reaches the app. A request that does carry one goes on to zone-auth.
 */
export const internalPathStage: Stage = {
  name: 'internal-path',
  create(_config, { reject }) {
    return (ctx, next) => {
      if (ctx.req.headers[HEADERS.auth] === undefined && isInternalPath(ctx.req.url ?? '/'))
        return reject(ctx, 404, trustErrors.ERR_TRUST_INTERNAL_PATH.code, 'router: no such path');
      return next();
    };
  },
};
