import type { Stage } from '../types.ts';

/**
 * Sets the routing cookie `mz_zone=<zone>:<shard>` so edges and the SDK can send the
 * client straight to the owner zone next time (only when it changed, and never on forwards).
 */
export const cookieStage: Stage = {
  name: 'cookie',
  create(config) {
    const { name, maxAgeS } = config.cookie;
    const prefix = `${name}=`;
    return (ctx, next) => {
      if (ctx.hop === 0 && typeof ctx.shard === 'number' && ctx.owner) {
        const value = `${ctx.owner.zone}:${ctx.shard}`;
        const sent = ctx.req.headers.cookie;
        if (!sent?.includes(prefix + value))
          ctx.responseHeaders['set-cookie'] = `${prefix}${value}; Path=/; Max-Age=${maxAgeS}; SameSite=Lax`;
      }
      return next();
    };
  },
};
