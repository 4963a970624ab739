import { defineErrors } from '../core/errors.ts';

export const healthErrors = defineErrors({
  ERR_HEALTH_INVALID_OPTION:
    'the health checker was given an impossible option (quorum above the number of probers, timeout above interval, …)',
  ERR_HEALTH_PROBE_TIMEOUT: 'a health probe got no answer within timeoutMs (or the fault hook dropped it)',
  ERR_HEALTH_PROBE_CONNECT: 'a health probe could not connect or lost the connection (refused, reset, unreachable)',
  ERR_HEALTH_PROBE_STATUS: "an HTTP health probe got a status outside the role's expectStatus",
  ERR_HEALTH_PROBE_BAD_ANSWER: 'a DNS health probe got a malformed or mismatched answer, or SERVFAIL',
});
