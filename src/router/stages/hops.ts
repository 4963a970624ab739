import { routerErrors } from '../errors.ts';
import type { Stage } from '../types.ts';

/** Stops forwarding loops: a request that would be forwarded again after maxHops gets 421. */
export const hopsStage: Stage = {
  name: 'hops',
  create(config, { zone, reject }) {
    return (ctx, next) => {
      if (ctx.target !== zone && ctx.hop >= config.maxHops)
        return reject(
          ctx,
          421,
          routerErrors.ERR_ROUTER_TOO_MANY_HOPS.code,
          `router: ${ctx.hop} hops already; ${zone} would forward to ${ctx.target}`,
          {
            hops: ctx.hop,
            target: ctx.target,
            from: ctx.fromZone,
          },
        );
      return next();
    };
  },
};
