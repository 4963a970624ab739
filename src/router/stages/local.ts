import { HEADERS } from '../../shardmap/index.ts';
import { routerErrors } from '../errors.ts';
import { pipeBack, send, upstreamFailed } from '../proxy.ts';
import type { RouteContext, RouterDeps, Stage } from '../types.ts';

/**
 * Proxies to this zone's app with X-Multizone-Zone/-Shard/-Epoch. Second read: a local 404
 * for a replica read is retried once at the owner zone (replication may lag), and the
 * answer is marked `x-multizone-second-read: <zone>`. A request a zone signed (ctx.trusted)
 * reaches the app signed again by this zone, so the app's internal routes can tell; a
 * public one does not, and its body is cut at router.maxBodyBytes. The second read is signed.
 */
export const localStage: Stage = {
  name: 'local',
  create(config, deps) {
    const { zone, upstreams, signer } = deps;
    return async (ctx) => {
      const app = upstreams.get('app');
      if (!app)
        return deps.reject(ctx, 502, routerErrors.ERR_ROUTER_UPSTREAM.code, `router: ${zone} has no app address`, {
          upstream: 'app',
        });
      // a request with no sharding key (login, static paths) has no shard or epoch: no header,
      // rather than an empty one
      const routed: Record<string, string> = {};
      if (ctx.shard !== undefined) routed[HEADERS.shard] = String(ctx.shard);
      if (ctx.owner) routed[HEADERS.epoch] = String(ctx.owner.epoch);
      const reqExtra = { [HEADERS.zone]: zone, ...routed };
      let r: Awaited<ReturnType<typeof send>>;
      try {
        r = await send(ctx, app, reqExtra, ctx.trusted ? { signer } : { maxBodyBytes: config.maxBodyBytes });
      } catch (e) {
        return upstreamFailed(ctx, deps, `${zone} app`, e);
      }
      return finishLocal(ctx, deps, r, routed);
    };
  },
};

/**
 * Answers with the local app's response `r`, or — a 404 for a replica read — with a second
 * read at the owner zone (signed), marked `x-multizone-second-read: <zone>`.
 */
export async function finishLocal(
  ctx: RouteContext,
  deps: RouterDeps,
  r: Awaited<ReturnType<typeof send>>,
  routed: Record<string, string>,
  extra: Record<string, string> = {},
): Promise<void> {
  const { zone, upstreams, clock, cut, count, signer } = deps;
  const owner = ctx.owner?.zone;
  if (r.statusCode === 404 && ctx.secondRead && owner && owner !== zone && !cut?.(zone, owner)) {
    const pool = upstreams.get(owner);
    if (pool) {
      await r.dump();
      try {
        const r2 = await send(
          ctx,
          pool,
          {
            [HEADERS.hop]: String(ctx.hop + 1),
            [HEADERS.from]: zone,
            ...(ctx.owner ? { [HEADERS.epoch]: String(ctx.owner.epoch) } : {}),
          },
          { method: 'GET', withBody: false, signer },
        );
        count('second-read');
        return pipeBack(ctx, r2, { [HEADERS.secondRead]: owner });
      } catch (e) {
        return upstreamFailed(ctx, deps, owner, e);
      }
    }
  }
  count('local');
  pipeBack(ctx, r, {
    [HEADERS.zone]: zone,
    ...routed,
    ...extra,
    [HEADERS.servedAt]: String(Math.round(clock.wallTime())),
  });
}
