/** Router: sharding key → shard → owner zone; local proxy, forwarding, second read, fencing. See README.md. */
export { routerErrors } from './errors.ts';
export { compileSource, jwtClaim, RequestView } from './key-sources.ts';
export { newRouteContext } from './route-context.ts';
export { createRouter, type RouterOptions, type ZoneRouter } from './server.ts';
export { STAGES } from './stages/order.ts';
export type { ExternalAppDeps, RouteContext, RouterMap, Stage } from './types.ts';
export { type RouterWorkerPayload, RouterWorkers, type RouterWorkersOptions } from './workers.ts';
