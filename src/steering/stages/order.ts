import type { Stage } from '../types.ts';
import { capacityStage } from './capacity.ts';
import { firstNStage } from './first-n.ts';
import { geoStage } from './geo.ts';
import { healthyStage } from './healthy.ts';
import { latencyStage } from './latency.ts';
import { stickyStage } from './sticky.ts';
import { weightedStage } from './weighted.ts';

/**
 * The one list of steering stages, in order. Config turns stages on or off but cannot
 * reorder them. `sticky` runs before `capacity` and `weighted` because it supplies the
 * per-client draw they both use (enrich first, decide later).
 */
export const STAGES: readonly Stage[] = [
  healthyStage,
  geoStage,
  stickyStage,
  capacityStage,
  latencyStage,
  weightedStage,
  firstNStage,
];
