import { defineErrors } from '../core/errors.ts';

export const replicationErrors = defineErrors({
  ERR_REPL_LOG_CLOSED: 'the replication log was used after close()',
  ERR_REPL_LOG_UNAVAILABLE: 'the replication log (e.g. the NATS server) cannot be reached',
  ERR_REPL_BAD_BATCH: 'a batch received from the log could not be decoded; it is counted and skipped',
  ERR_REPL_UNKNOWN_ZONE: 'a replication call named a zone this process does not run',
  ERR_REPL_PICK_ZONE_UNKNOWN:
    'a bulk conflict resolution (resolve-all, --pick-zone) named a zone the topology does not have',
  ERR_REPL_LAG_EXCEEDED: 'replication did not catch up within the time allowed',
  ERR_REPL_PAYLOAD_LIMIT:
    'the NATS server’s max_payload cannot carry a change of store.maxValueBytes; lower that or raise max_payload',
  ERR_REPL_TOO_LARGE: 'a single change or record is larger than the log’s maximum message size (NATS max_payload)',
});
