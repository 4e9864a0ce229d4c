import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import type { Transport } from 'datasync';
import { createCacheProvider, type CacheProvider } from 'datasync/cache';
import { connectTransport } from 'datasync/transports';
import type { PlatformModule } from '../../platform/host/module.js';
import { startPlatform, type RunningPlatform } from '../../platform/host/run.js';
import type { ApiReply } from './platform-process.js';
import { POSTGRES_URL, uniqueName } from './servers.js';

/** The services under test, once `beforeAll` has run. */
export interface InProcessPlatform {
  readonly platform: () => RunningPlatform;
  /** The transport the services use (e.g. to publish probe events: platform/audit/publish.ts). */
  readonly transport: () => Transport;
  /** A pool on the platform's own database, to read the services' tables. */
  readonly db: () => pg.Pool;
  /** Errors the platform reported (background work, HTTP 500s). */
  readonly errors: readonly string[];
  /** Calls the API with a JSON body (or `raw` text as the body). */
  call<T = any>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiReply<T>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * Runs `modules` in this process (platform/host/run.ts) for the enclosing `describe`, on a
 * database of its own created on the test PostgreSQL and dropped afterwards, over the transport
 * `transportSpec` (default the postgres transport on that database), HTTP on a free port.
 */
export function useInProcessPlatform(prefix: string, modules: () => readonly PlatformModule[], options: { transportSpec?: string; redisUrl?: string } = {}): InProcessPlatform {
  const database = uniqueName(prefix);
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  const errors: string[] = [];
  let pool: pg.Pool | undefined;
  let transport: Transport | undefined;
  let cache: CacheProvider | undefined;
  let platform: RunningPlatform | undefined;

  beforeAll(async () => {
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    pool = new pg.Pool({ connectionString: url.toString(), max: 20 });
    pool.on('error', () => undefined); // DROP DATABASE … WITH (FORCE) ends its connections at the end
    transport = await connectTransport(options.transportSpec ?? 'postgres', { databaseUrl: url.toString() });
    cache = createCacheProvider({ redisUrl: options.redisUrl });
    platform = await startPlatform({
      modules: modules(), pool, databaseUrl: url.toString(), transport, transportName: options.transportSpec ?? 'postgres', cache, port: 0,
      onError: (error, where) => errors.push(`${where}: ${error instanceof Error ? error.stack ?? error.message : String(error)}`),
    });
  }, 90_000);

  afterAll(async () => {
    await platform?.stop();
    await transport?.close();
    await cache?.close();
    await pool?.end();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }, 60_000);

  return {
    platform: () => platform!,
    transport: () => transport!,
    db: () => pool!,
    errors,
    async call<T>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiReply<T>> {
      const response = await fetch(`${platform!.url}${path}`, {
        method,
        headers: body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : undefined,
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      });
      const text = await response.text();
      return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
    },
  };
}
