import type { Stage } from '../types.ts';
import { bodyLimitStage } from './body-limit.ts';
import { cookieStage } from './cookie.ts';
import { epochSyncStage } from './epoch-sync.ts';
import { externalAppStage } from './external-app.ts';
import { fenceStage } from './fence.ts';
import { forwardStage } from './forward.ts';
import { hopsStage } from './hops.ts';
import { internalPathStage } from './internal-path.ts';
import { keyStage } from './key.ts';
import { localStage } from './local.ts';
import { policyStage } from './policy.ts';
import { resourceStage } from './resource.ts';
import { shardStage } from './shard.ts';
import { zoneAuthStage } from './zone-auth.ts';

/**
 * The one list of router stages, in order. Guard first (internal paths, body size, who may
 * speak as a zone), then enrich (resource, key, shard, epoch-sync), then
 * decide (policy, hops), then act (cookie header, forward, or fence + the external app or local). Config turns
 * options on and off but cannot reorder stages.
 */
export const STAGES: readonly Stage[] = [
  internalPathStage,
  bodyLimitStage,
  zoneAuthStage,
  resourceStage,
  keyStage,
  shardStage,
  epochSyncStage,
  policyStage,
  hopsStage,
  cookieStage,
  forwardStage,
  fenceStage,
  externalAppStage,
  localStage,
];
