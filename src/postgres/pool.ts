import pg from 'pg';
import { ServerUnreachableError } from '../core/errors.js';

/** Default database when neither an option nor `DATABASE_URL` gives one. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The address part of a connection URL, without credentials, for error messages. */
export function describeAddress(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return url.replace(/\/\/[^@]*@/, '//');
  }
}

/**
 * Opens a `pg` pool and checks that the server answers, so a wrong address fails
 * at start-up with {@link ServerUnreachableError} naming it, not at the first event.
 */
export async function openPostgres(url: string = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL, options: pg.PoolConfig = {}): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5_000, ...options });
  pool.on('error', () => {
    // an idle client lost its connection; the pool replaces it on next use
  });
  try {
    await pool.query('SELECT 1');
  } catch (cause) {
    await pool.end().catch(() => undefined);
    throw new ServerUnreachableError('PostgreSQL', describeAddress(url), { cause });
  }
  return pool;
}
