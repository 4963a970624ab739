import type { DnsStage } from '../chain.ts';
import { ecsAddress } from '../wire/ecs.ts';

/**
 * `client-subnet`: decides who steering sees (enrich first, decide later). The ECS subnet
 * when there is one; with SOURCE PREFIX-LENGTH 0 (RFC 7871 §7.1.2: the client opted out)
 * or without ECS, the address the packet came from (the resolver's).
 */
export const clientSubnetStage: DnsStage = {
  name: 'client-subnet',
  create() {
    return (ctx, next) => {
      const e = ctx.ecs;
      ctx.client = e !== null && e.sourcePrefix > 0 ? `${ecsAddress(e)}/${e.sourcePrefix}` : ctx.address;
      next(ctx);
    };
  },
};
