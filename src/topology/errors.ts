import { defineErrors } from '../core/errors.ts';

export const topologyErrors = defineErrors({
  ERR_TOPOLOGY_UNKNOWN_ZONE: 'a zone name was asked for that the topology does not define',
  ERR_TOPOLOGY_UNKNOWN_SERVICE: 'a service name was asked for that the topology does not define',
});
