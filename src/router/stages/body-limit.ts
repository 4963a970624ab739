import { tooLarge } from '../proxy.ts';
import type { Stage } from '../types.ts';

/** A declared body over router.maxBodyBytes gets 413 before anything reads it (chunked ones are cut while streaming). */
export const bodyLimitStage: Stage = {
  name: 'body-limit',
  create(config, deps) {
    const max = config.maxBodyBytes;
    return (ctx, next) => {
      const cl = ctx.req.headers['content-length'];
      if (cl !== undefined && Number(cl) > max) return tooLarge(ctx, deps, max);
      return next();
    };
  },
};
