import pg from 'pg';
import { storeErrors } from './errors.ts';
import type { TableName } from './pg-functions.ts';
import type { PgStoreOptions } from './pg-options.ts';
import { ident } from './sql-text.ts';

/**
 * Errors that say the database could not be reached or the connection broke (node errno, a
 * dropped connection, SQLSTATE class 08 or an operator/crash shutdown 57P01–57P03), as opposed
 * to an error the database gave about the statement.
 */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
function isConnectionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_ERRNOS.has(code) || /^(08|57P0[123])/.test(code))) return true;
  return /^Connection terminated|^connection timeout|Client has encountered a connection error/i.test(e.message);
}

/**
 * Opens the store's pool for a connection string (or takes the given one), listening to the
 * errors of idle connections of its own pool.
 */
export function openPool(opts: PgStoreOptions): { pool: pg.Pool; ownsPool: boolean } {
  const ownsPool = typeof opts.connection === 'string';
  const pool =
    typeof opts.connection === 'string'
      ? new pg.Pool({ connectionString: opts.connection, max: opts.poolSize ?? 8 })
      : opts.connection;
  // an idle pooled connection that breaks is emitted as 'error' on the pool: with no
  // listener that is an uncaught exception, which would take the whole zone process down
  if (ownsPool)
    pool.on('error', (e) =>
      opts.onError?.(
        storeErrors.ERR_STORE_UNAVAILABLE(`store of ${opts.zone}: an idle PostgreSQL connection broke (${e.message})`, {
          cause: e,
        }),
      ),
    );
  return { pool, ownsPool };
}

/**
 * A zone's way to its schema: queries and transactions on the pool, with connection errors as
 * ERR_STORE_UNAVAILABLE (the router answers 503), and the schema's table names.
 */
export class PgConnection {
  constructor(
    private readonly pool: pg.Pool,
    private readonly zone: string,
    readonly schema: string,
  ) {}

  /** A table of the zone's schema, quoted: t('records') → "mz_sh_a".records. */
  readonly t: TableName = (name) => `${ident(this.schema)}.${name}`;

  /** A connection error as ERR_STORE_UNAVAILABLE (the router answers 503); any other error as it is. */
  unavailable(e: unknown): unknown {
    if (!isConnectionError(e)) return e;
    return storeErrors.ERR_STORE_UNAVAILABLE(
      `store of ${this.zone}: PostgreSQL cannot be reached (${(e as Error).message})`,
      { cause: e },
    );
  }

  /** pool.query, with connection errors as ERR_STORE_UNAVAILABLE. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    q: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(q as string, values);
    } catch (e) {
      throw this.unavailable(e);
    }
  }

  /** A transaction on one client: BEGIN, fn, COMMIT (rolled back when fn fails). */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.folded(async (c) => {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    });
  }

  /**
   * A connection of its own beside the pool (same settings), for as long as the caller keeps
   * it: a held pool connection would starve a pool shared by several stores.
   */
  async dedicated(): Promise<pg.Client> {
    const c = new pg.Client((this.pool as pg.Pool & { options: pg.ClientConfig }).options);
    try {
      await c.connect();
      return c;
    } catch (e) {
      await c.end().catch(() => {});
      throw this.unavailable(e);
    }
  }

  /**
   * A transaction whose BEGIN and COMMIT ride in the first and last query string (`fn` sends
   * them): a write or an apply is two round trips instead of five. A failed statement stops
   * its query string, so COMMIT never runs after an error; the transaction is rolled back.
   */
  async folded<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw this.unavailable(e);
    }
    // A connection that ends while the client is checked out is also emitted as 'error' on
    // the client (the pool listens only while it is idle, pool.query while it runs one query):
    // unheard, that is an uncaught exception (a PostgreSQL crash took the process down with
    // it). Its queries fail too, which is how fn learns of it.
    let broken: Error | undefined;
    const onError = (e: Error) => {
      broken = e;
    };
    c.on('error', onError);
    try {
      return await fn(c);
    } catch (e) {
      if (isConnectionError(e)) broken ??= e as Error;
      else if (!broken) await c.query('ROLLBACK').catch(() => {});
      throw this.unavailable(e);
    } finally {
      c.off('error', onError);
      // a client whose connection broke is discarded (release(err)), not pooled again
      c.release(broken);
    }
  }
}
