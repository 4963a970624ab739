import { HEADER_PREFIX, HEADERS } from '../../shardmap/index.ts';
import { trustErrors } from '../../trust/index.ts';
import { bufferBody } from '../proxy.ts';
import type { RouteContext, Stage } from '../types.ts';

/**
 * Who may speak as a zone. A request with `x-multizone-auth` must carry a valid signature
 * (the body is read, bounded by router.maxBodyBytes, to check its digest): then ctx.trusted
 * names the signing zone and its routing headers count. One that claims to be forwarded
 * (`x-multizone-hop` or `-from`) without a signature is refused; any other `x-multizone-*`
 * header a client sends is dropped, so no later stage reads it. Both refusals are 401.
 */
export const zoneAuthStage: Stage = {
  name: 'zone-auth',
  create(config, deps) {
    const { signer, reject } = deps;
    const refuse = (ctx: RouteContext, reason: string) =>
      reject(ctx, 401, trustErrors.ERR_TRUST_BAD_SIGNATURE.code, 'router: not signed by a zone of this cluster', {
        reason,
      });
    return (ctx, next) => {
      const h = ctx.req.headers;
      if (h[HEADERS.auth] === undefined) {
        if (h[HEADERS.hop] !== undefined || h[HEADERS.from] !== undefined) return refuse(ctx, 'missing');
        for (const k in h) if (k.startsWith(HEADER_PREFIX)) delete h[k];
        return next();
      }
      return bufferBody(ctx, deps, config.maxBodyBytes).then((ok) => {
        if (!ok) return;
        const r = signer.check({ method: ctx.method, target: ctx.req.url ?? '/', headers: h, body: ctx.body });
        if (typeof r === 'string') return refuse(ctx, r);
        ctx.trusted = r.zone;
        return next();
      });
    };
  },
};
