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
  ERR_REPL_TABLES_ORIGIN_LIMIT:
    'a zone’s PostgreSQL server has no free replication origin for an applier: max_replication_slots is too small for the zones’ appliers and decoders',
  ERR_REPL_TABLES_WAL_LEVEL:
    'a zone’s application database does not run with wal_level = logical, which table replication decodes',
  ERR_REPL_TABLES_NO_TABLE: 'a table named in replication.tables does not exist in a zone’s database',
  ERR_REPL_TABLES_NO_KEY: 'a table named in replication.tables has no primary key (and no key: columns that are one)',
  ERR_REPL_TABLES_IDENTITY:
    'a replicated table is not REPLICA IDENTITY FULL (its old rows and unchanged TOAST values would not be decoded)',
  ERR_REPL_TABLES_GENERATED:
    'a key, shard, lww or merge column of a replicated table is a generated column (logical decoding does not carry generated values)',
  ERR_REPL_TABLES_MISMATCH: 'a replicated table’s columns or types differ between zones (DDL is not replicated)',
  ERR_REPL_TABLES_UNAVAILABLE: 'a zone’s application database cannot be reached',
  ERR_REPL_TABLES_CONFLICT_UNKNOWN: 'a table conflict id that no zone of this process holds open',
  ERR_REPL_TABLES_REFUSED:
    'a table conflict’s picked row is refused by the zone’s database (a unique, foreign-key, CHECK or NOT NULL constraint): free the constraint first',
});
