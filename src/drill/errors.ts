import { defineErrors } from '../core/errors.ts';

/** Error codes of the drill. `ERR_FAILOVER_DRILL` shipped before the drill had its own folder, and a code never changes. */
export const drillErrors = defineErrors({
  ERR_FAILOVER_DRILL: 'the drill could not talk to the running cluster (control API or routers)',
  ERR_DRILL_COMMAND: 'a drill fault or heal command (--fault-cmd, --heal-cmd) failed or did not finish in 60 s',
});
