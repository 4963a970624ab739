/** Steering: (client, service, health, load) → ordered endpoints, TTL, ECS scope. See README.md. */
export { createSteering, type Steering, serviceEndpoints, staticState } from './engine.ts';
export { LISTENERS, type LoadListener, LoadMeter } from './load/meter.ts';
export { registerLoadRoutes } from './load/routes.ts';
export { SHARE_DEADBAND, Shedder, type ShedderOptions } from './load/shedder.ts';
export { LOAD_PREFIX, type LoadRecord, loadKey } from './load/wire.ts';
export {
  type LoadConfig,
  type LoadReport,
  type ShedChange,
  STALE_INTERVALS,
  ZoneLoads,
  type ZoneLoadsOptions,
  type ZoneLoadView,
} from './load/zone-loads.ts';
export { MutableSteeringState, type SteeringSnapshot } from './mutable-state.ts';
export { zoneShed } from './stages/capacity.ts';
export { STAGES } from './stages/order.ts';
export type {
  Candidate,
  Endpoint,
  Stage,
  StageContext,
  SteeringAnswer,
  SteeringQuery,
  SteeringState,
  ZoneShed,
} from './types.ts';
