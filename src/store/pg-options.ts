import type pg from 'pg';
import type { StoreDeps } from './write-plan.ts';

/** Options of the PostgreSQL adapter: one schema per zone. */
export interface PgStoreOptions extends StoreDeps {
  /** A connection string (postgres://…) or an existing pool (not closed by close()). */
  connection: string | pg.Pool;
  /** Schema for this zone's tables; default `mz_<zone>` with dashes as underscores. */
  schema?: string;
  /** Pool size when a connection string is given. */
  poolSize?: number;
  /**
   * Told of a pooled connection that broke while idle (the server restarted, the network
   * dropped): the pool discards it and the next query connects afresh. Only for the store's own
   * pool (a connection string); whoever passes a pool listens to its 'error' events.
   */
  onError?: (e: Error) => void;
}
