import { ConfigurationError } from '../core/errors.js';

/** The result shape datasync reads from a query. */
export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number | null;
}

/**
 * Anything that runs SQL: a `pg` Client, PoolClient or Pool, or a caller's own
 * wrapper. datasync never needs a driver class, only this structural subset.
 */
export interface SqlExecutor {
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}

/** A pool of connections from which transactions are run (`pg.Pool` fits). */
export interface SqlPool extends SqlExecutor {
  connect(): Promise<SqlExecutor & { release(error?: Error | boolean): void }>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema or table name and returns it double-quoted. */
export function quoteIdent(name: string, field = 'schema'): string {
  if (!IDENTIFIER.test(name)) {
    throw new ConfigurationError(field, name, 'a lower-case SQL identifier: letters, digits and _ (at most 63), not starting with a digit');
  }
  return `"${name}"`;
}

/**
 * Runs `work` in one transaction on a connection of `pool`: commits if it resolves,
 * rolls back if it throws, and always releases the connection (destroying it when
 * the rollback itself failed, so a broken connection does not return to the pool).
 */
export async function inTransaction<T>(pool: SqlPool, work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError as Error;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

/** The name of the NOTIFY channel that wakes the relay of `schema`'s outbox. */
export function outboxChannel(schema: string): string {
  return `datasync_outbox_${schema}`;
}
