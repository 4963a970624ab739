/** Anycast: each zone announces the service prefixes over BGP (BIRD 2) while it is healthy. See README.md. */

export {
  Announcer,
  type AnnouncerInputs,
  type AnnouncerOptions,
  type AnycastZoneState,
  anycastAddresses,
  type PrefixState,
  prefixesOf,
} from './announcer.ts';
export {
  type Announcement,
  type BgpSession,
  parseBfdSessions,
  parseProtocols,
  renderBfd,
  renderBirdConf,
  sessionIndex,
  sessionName,
} from './bird-conf.ts';
export { type BirdSpeakerOptions, birdFiles, birdSpeaker, findProgram, type Speaker } from './bird-driver.ts';
export {
  type AnycastAction,
  type AnycastDecision,
  type AnycastInputs,
  type AnycastReason,
  type DecisionOptions,
  type DecisionState,
  decide,
  initialDecisionState,
} from './decision.ts';
export { anycastErrors } from './errors.ts';
export { type AnycastMetrics, anycastMetrics } from './metrics.ts';
export { registerAnycastRoutes } from './routes.ts';
