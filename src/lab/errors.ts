import { defineErrors } from '../core/errors.ts';

/** Error codes of the lab (`multizone lab up|drill|down`). */
export const labErrors = defineErrors({
  ERR_LAB_NOT_ROOT: 'the lab needs root (network namespaces, a bridge, a route) on Linux',
  ERR_LAB_MISSING_TOOL:
    'a program the lab runs is not installed (ip, setpriv, initdb/postgres, redis-server, nats-server)',
  ERR_LAB_IN_USE: 'a lab is already up (its state file, bridge or namespaces exist): run multizone lab down first',
  ERR_LAB_COMMAND: 'a command the lab ran (ip, initdb, …) failed',
  ERR_LAB_NOT_READY: 'a part of the lab did not come up in time (the message names it and shows its log)',
  ERR_LAB_NOT_UP: 'no lab is up in that directory (no state file)',
});
