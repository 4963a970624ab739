import { HEADERS } from '../../shardmap/index.ts';
import { routerErrors } from '../errors.ts';
import { bufferBody, pipeBack, send, upstreamFailed } from '../proxy.ts';
import type { Stage } from '../types.ts';

/**
 * Forwards to the target zone's router over a kept-alive pool, with the hop counter, the
 * epoch we routed by, and our zone, signed with the cluster secret (the body is read first,
 * bounded by router.maxBodyBytes, since the signature covers it); streams the answer back.
 * Local requests pass through.
 */
export const forwardStage: Stage = {
  name: 'forward',
  create(config, deps) {
    const { zone, upstreams, cut, reject, count, signer } = deps;
    return async (ctx, next) => {
      const to = ctx.target;
      if (to === undefined || to === zone) return next();
      if (cut?.(zone, to))
        return reject(
          ctx,
          502,
          routerErrors.ERR_ROUTER_UPSTREAM.code,
          `router: ${zone} cannot reach ${to} (partitioned)`,
          {
            upstream: to,
            kind: 'partition',
          },
        );
      const pool = upstreams.get(to);
      if (!pool)
        return reject(ctx, 502, routerErrors.ERR_ROUTER_UPSTREAM.code, `router: no address known for ${to}'s router`, {
          upstream: to,
          kind: 'unknown-address',
        });
      const extra: Record<string, string> = { [HEADERS.hop]: String(ctx.hop + 1), [HEADERS.from]: zone };
      if (ctx.owner) extra[HEADERS.epoch] = String(ctx.owner.epoch);
      if (!(await bufferBody(ctx, deps, config.maxBodyBytes))) return;
      try {
        const r = await send(ctx, pool, extra, { signer });
        count('forward');
        pipeBack(ctx, r, {});
      } catch (e) {
        upstreamFailed(ctx, deps, to, e);
      }
    };
  },
};
