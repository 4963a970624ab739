import type { Stage } from '../types.ts';
import { cookieStage } from './cookie.ts';
import { epochSyncStage } from './epoch-sync.ts';
import { fenceStage } from './fence.ts';
import { forwardStage } from './forward.ts';
import { hopsStage } from './hops.ts';
import { keyStage } from './key.ts';
import { localStage } from './local.ts';
import { policyStage } from './policy.ts';
import { resourceStage } from './resource.ts';
import { shardStage } from './shard.ts';

/**
 * The one list of router stages, in order. Enrich (resource, key, shard, epoch-sync), then
 * decide (policy, hops), then act (cookie header, forward, or fence + local). Config turns
 * options on and off but cannot reorder stages.
 */
export const STAGES: readonly Stage[] = [
  resourceStage,
  keyStage,
  shardStage,
  epochSyncStage,
  policyStage,
  hopsStage,
  cookieStage,
  forwardStage,
  fenceStage,
  localStage,
];
