import { defineErrors } from '../core/errors.ts';

/** Error codes of anycast (the BGP announcer and its BIRD driver). */
export const anycastErrors = defineErrors({
  ERR_ANYCAST_BIRD_MISSING: 'the BGP speaker is not installed: bird or birdc not found (Debian package bird2)',
  ERR_ANYCAST_BIRD_START: 'a zone’s BIRD did not start, or exited (its log is in the message)',
  ERR_ANYCAST_BIRDC_UNREACHABLE: 'birdc could not reach the zone’s BIRD through its control socket',
  ERR_ANYCAST_BIRD_CONFIG: 'BIRD refused the configuration the announcer wrote (birdc configure failed)',
  ERR_ANYCAST_NOT_CONFIGURED: 'the zone has no anycast speaker (no anycast.zones entry, or no prefix it announces)',
});
