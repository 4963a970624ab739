import { GLOBAL, HEADERS } from '../../shardmap/index.ts';
import { routerErrors } from '../errors.ts';
import { bufferBody, pipeBack, send, upstreamFailed } from '../proxy.ts';
import type { RouteContext, RouterDeps, Stage } from '../types.ts';
import { finishLocal } from './local.ts';

/**
 * For a zone whose app is an external service (`zones.<z>.app`): proxies to it with every
 * routing header (zone, shard, epoch, owner, global writer and its epoch, hop, and the
 * forwarding zone), signed with the app's key over method, target, those headers, the body's
 * digest, a timestamp and a nonce (so the body is read first, up to router.maxBodyBytes).
 * An answer **421** means "not mine": the router looks the owner up once more (after waiting
 * up to epochWaitMs for an epoch the app names in `x-multizone-epoch`) and forwards the request
 * there; when the owner is still this zone it answers 503 `ERR_ROUTER_APP_MISDIRECTED`.
 * **409** (conflict, locked record) and every other answer pass through; a 404 of a replica
 * read gets the usual second read. Not enabled when the zone's app runs inside multizone.
 */
export const externalAppStage: Stage = {
  name: 'external-app',
  create(config, deps) {
    const app = deps.app;
    if (!app) return null;
    const { zone, upstreams, map, count } = deps;
    return async (ctx) => {
      const pool = upstreams.get('app');
      if (!pool)
        return deps.reject(ctx, 502, routerErrors.ERR_ROUTER_UPSTREAM.code, `router: ${zone} has no app address`, {
          upstream: 'app',
        });
      if (!(await bufferBody(ctx, deps, config.maxBodyBytes))) return;
      const routed: Record<string, string> = {};
      if (ctx.shard !== undefined) routed[HEADERS.shard] = String(ctx.shard);
      if (ctx.owner) routed[HEADERS.epoch] = String(ctx.owner.epoch);
      const headers: Record<string, string> = { [HEADERS.zone]: zone, ...routed, [HEADERS.hop]: String(ctx.hop) };
      if (ctx.owner) headers[HEADERS.owner] = ctx.owner.zone;
      if (map.ready()) {
        const g = map.entry(GLOBAL);
        headers[HEADERS.global] = g.zone;
        headers[HEADERS.globalEpoch] = String(g.epoch);
      }
      if (ctx.trusted) headers[HEADERS.from] = ctx.fromZone ?? ctx.trusted;
      let r: Awaited<ReturnType<typeof send>>;
      try {
        r = await send(ctx, pool, headers, { signer: app.signer });
      } catch (e) {
        return upstreamFailed(ctx, deps, `${zone} app`, e);
      }
      if (r.statusCode === 421) {
        const named = Number(r.headers[HEADERS.epoch]);
        await r.dump();
        return reroute(ctx, deps, Number.isSafeInteger(named) ? named : undefined, config.epochWaitMs);
      }
      if (r.statusCode === 409) count('app-conflict');
      return finishLocal(ctx, deps, r, routed, { [HEADERS.servedBy]: zone });
    };
  },
};

/**
 * The app said "not mine": look the owner up once more and forward there, or give up with
 * ERR_ROUTER_APP_MISDIRECTED. Only requests routed by ownership (a shard, or a global write)
 * can be re-routed; the others have no owner to ask about.
 */
async function reroute(ctx: RouteContext, deps: RouterDeps, appEpoch: number | undefined, waitMs: number) {
  const { zone, map, upstreams, signer, cut, count } = deps;
  const shard = ctx.shard;
  const misdirected = (why: string, extra: Record<string, unknown> = {}) => {
    ctx.res.setHeader('retry-after', '1');
    deps.reject(ctx, 503, routerErrors.ERR_ROUTER_APP_MISDIRECTED.code, `router: ${zone}'s app answered 421; ${why}`, {
      shard: shard ?? null,
      ...extra,
    });
  };
  if (shard === undefined || !ctx.owner) return misdirected('the request has no shard to look up again');
  if (appEpoch !== undefined && appEpoch > ctx.owner.epoch) await map.waitForEpoch(shard, appEpoch, waitMs);
  const owner = map.entry(shard);
  if (owner.zone === zone)
    return misdirected(`the shard's owner is still ${zone} at epoch ${owner.epoch}`, { epoch: owner.epoch });
  if (ctx.hop + 1 > deps.topology.config.router.maxHops)
    return misdirected(`the owner is now ${owner.zone}, but the request was forwarded ${ctx.hop} times already`, {
      owner: owner.zone,
    });
  const to = upstreams.get(owner.zone);
  if (!to || cut?.(zone, owner.zone))
    return misdirected(`the owner is now ${owner.zone}, which cannot be reached`, { owner: owner.zone });
  ctx.owner = owner;
  ctx.target = owner.zone;
  ctx.why = 'reroute';
  try {
    const r = await send(
      ctx,
      to,
      { [HEADERS.hop]: String(ctx.hop + 1), [HEADERS.from]: zone, [HEADERS.epoch]: String(owner.epoch) },
      { signer },
    );
    count('reroute');
    pipeBack(ctx, r, {});
  } catch (e) {
    upstreamFailed(ctx, deps, owner.zone, e);
  }
}
