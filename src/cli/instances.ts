import type { SqlExecutor } from '../postgres/sql.js';

/**
 * The running processes of a platform, as they register themselves in `platform.instances`
 * (the reference platform's host, docs/decisions.md 21): which service answers at which URL,
 * over which transport. Rows whose heartbeat is older than 15 s are not running any more.
 */

/** One service of one running process. */
export interface PlatformInstance {
  readonly service: string;
  /** The process's HTTP API, e.g. `http://127.0.0.1:4300`; several services share it when one process runs them. */
  readonly url: string;
  /** The transport spec the process registered. */
  readonly transport: string;
}

/** Seconds after its last heartbeat an instance is considered gone (three missed heartbeats). */
export const INSTANCE_FRESH_SECONDS = 15;

/** The fresh instances, by service then newest heartbeat first; none when no platform ever ran on this database. */
export async function readInstances(db: SqlExecutor): Promise<PlatformInstance[]> {
  try {
    const { rows } = await db.query<{ service: string; url: string; transport: string }>(
      `SELECT service, url, transport FROM platform.instances
       WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY service, heartbeat_at DESC`,
      [INSTANCE_FRESH_SECONDS],
    );
    return rows;
  } catch (error) {
    if ((error as { code?: string }).code === '42P01' || (error as { code?: string }).code === '3F000') return []; // no platform.instances here
    throw error;
  }
}
