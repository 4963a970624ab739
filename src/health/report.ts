import type { TopologyConfig } from '../topology/index.ts';

type HealthConfig = TopologyConfig['health'];

import type { EndpointVerdict, HealthChecker, ZoneVerdict } from './types.ts';

/** The body of `GET /api/health`. */
export interface HealthReport {
  enabled: boolean;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** Votes needed to flip a verdict. */
  quorum: number | null;
  probers: readonly string[];
  zones: ZoneVerdict[];
  endpoints: EndpointVerdict[];
}

/** Every endpoint's verdict and who voted what; `checker` is null when health is disabled. */
export function healthReport(config: HealthConfig, checker: HealthChecker | null): HealthReport {
  return {
    enabled: checker !== null,
    intervalMs: config.intervalMs,
    timeoutMs: config.timeoutMs,
    rise: config.rise,
    fall: config.fall,
    quorum: checker?.quorum() ?? null,
    probers: checker?.probers() ?? [],
    zones: checker?.zones() ?? [],
    endpoints: checker?.verdicts() ?? [],
  };
}
