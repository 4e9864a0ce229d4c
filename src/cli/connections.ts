import type pg from 'pg';
import { ArgumentError } from '../core/errors.js';
import { assertMigrated } from '../postgres/migrations.js';
import { DEFAULT_DATABASE_URL, openPostgres } from '../postgres/pool.js';
import { DEFAULT_REDIS_STREAMS_CONFIG, createRedisStreamsTransport, redisAddressOf, type RedisStreamsTransport } from '../transports/redis-streams/index.js';

/** The environment variables the CLI reads. */
export type CliEnv = Readonly<Record<string, string | undefined>>;

/** Schemes `--transport` accepts; more come with more transports. */
export const SUPPORTED_TRANSPORT_SCHEMES = ['redis://', 'rediss://'] as const;

/**
 * The PostgreSQL URL from `--database`, else `DATABASE_URL`, else the default; an
 * {@link ArgumentError} naming where the value came from when it is not a PostgreSQL URL.
 */
export function resolveDatabaseUrl(option: string | undefined, env: CliEnv): string {
  const [source, url] = option !== undefined ? ['--database', option] : env.DATABASE_URL ? ['DATABASE_URL', env.DATABASE_URL] : ['default', DEFAULT_DATABASE_URL];
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new ArgumentError(source, redactUrl(url), 'a postgres:// or postgresql:// URL, e.g. postgres://postgres@127.0.0.1:5432/postgres');
  }
  return url;
}

/**
 * The broker URL from `--transport`, else `DATASYNC_TRANSPORT`, else `REDIS_URL`, else
 * the default; an {@link ArgumentError} naming the supported schemes otherwise.
 */
export function resolveTransportUrl(option: string | undefined, env: CliEnv): string {
  const [source, url] = option !== undefined ? ['--transport', option]
    : env.DATASYNC_TRANSPORT ? ['DATASYNC_TRANSPORT', env.DATASYNC_TRANSPORT]
      : env.REDIS_URL ? ['REDIS_URL', env.REDIS_URL] : ['default', DEFAULT_REDIS_STREAMS_CONFIG.url];
  if (redisAddressOf(url) === undefined) {
    throw new ArgumentError(source, redactUrl(url), `a URL with a supported scheme (${SUPPORTED_TRANSPORT_SCHEMES.join(', ')}), e.g. redis://127.0.0.1:6379`);
  }
  return url;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  }
}

/**
 * The servers one command opened; {@link close} ends them all so the process exits
 * promptly. Opening fails with `ServerUnreachableError` naming the server and address.
 */
export class Connections {
  #pool: pg.Pool | undefined;
  #transport: RedisStreamsTransport | undefined;

  /** Opens the PostgreSQL pool (a few connections; the CLI runs one statement at a time). */
  async database(url: string): Promise<pg.Pool> {
    this.#pool ??= await openPostgres(url, { max: 2, connectionTimeoutMillis: 5_000 });
    return this.#pool;
  }

  /** Connects to the broker; gives up after 5 s instead of retrying. */
  async transport(url: string): Promise<RedisStreamsTransport> {
    this.#transport ??= await createRedisStreamsTransport({ url, connectTimeoutMs: 5_000 });
    return this.#transport;
  }

  /** Closes whatever was opened; never throws. */
  async close(): Promise<void> {
    await Promise.allSettled([this.#transport?.close(), this.#pool?.end()]);
    this.#transport = undefined;
    this.#pool = undefined;
  }
}

/** Fails with SCHEMA_NOT_MIGRATED, suggesting `datasync migrate`, when `schema` lacks one of datasync's `tables`. */
export const requireMigrated = assertMigrated;

/** Runs `work` with a fresh {@link Connections}, closing them whatever happens. */
export async function usingConnections<T>(work: (connections: Connections) => Promise<T>): Promise<T> {
  const connections = new Connections();
  try {
    return await work(connections);
  } finally {
    await connections.close();
  }
}
