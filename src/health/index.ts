/** Health: probes of every endpoint from every zone, quorum verdicts that feed steering. See README.md. */
export { AppWatch, type AppWatchOptions } from './app-watch.ts';
export { createHealthChecker, type HealthCheckerOptions, type VerdictSink } from './checker.ts';
export { healthErrors } from './errors.ts';
export { networkProbe, statusMatches } from './probes/index.ts';
export { quorumSize, quorumVerdict } from './quorum.ts';
export { type HealthReport, healthReport } from './report.ts';
export { healthTargets, zoneAddresses, zoneKeyEndpoint } from './targets.ts';
export type {
  EndpointVerdict,
  FaultHook,
  HealthChangeEvent,
  HealthChecker,
  HealthTarget,
  ProbeFn,
  ProbeRequest,
  Vote,
  VoteEvent,
  ZoneVerdict,
  ZoneVotes,
} from './types.ts';

export { shareVotes } from './vote-share.ts';
export { HEARTBEAT_INTERVALS, voteStaleMs } from './vote-wire.ts';
