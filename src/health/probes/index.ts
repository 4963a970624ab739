import type { ProbeFn } from '../types.ts';
import { dnsProbe } from './dns-probe.ts';
import { httpProbe } from './http-probe.ts';
import { tcpProbe } from './tcp-probe.ts';

/** The real network: dispatches on the probe kind. */
export const networkProbe: ProbeFn = (req) =>
  req.kind === 'http' ? httpProbe(req) : req.kind === 'tcp' ? tcpProbe(req) : dnsProbe(req);

export { statusMatches } from './http-probe.ts';
