/** Steering: (client, service, health, load) → ordered endpoints, TTL, ECS scope. See README.md. */
export { createSteering, type Steering, serviceEndpoints, staticState } from './engine.ts';
export { MutableSteeringState } from './mutable-state.ts';
export { STAGES } from './stages/order.ts';
export type {
  Candidate,
  Endpoint,
  Stage,
  StageContext,
  SteeringAnswer,
  SteeringQuery,
  SteeringState,
} from './types.ts';
