import type pg from 'pg';
import { ArgumentError } from '../core/errors.js';
import { assertMigrated } from '../postgres/migrations.js';
import { DEFAULT_DATABASE_URL, openPostgres } from '../postgres/pool.js';
import { connectTransport, parseTransportSpec } from '../transports/connect.js';
import type { Transport } from '../transports/transport.js';

/** The environment variables the CLI reads. */
export type CliEnv = Readonly<Record<string, string | undefined>>;

/** What `--transport` accepts (DESIGN.md section 4). */
export const SUPPORTED_TRANSPORTS = 'postgres, or a redis://, rediss://, nats://, tls:// (NATS over TLS), amqp://, amqps:// or postgres:// URL';

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
 * The transport spec from `--transport`, else `DATASYNC_TRANSPORT`, else `postgres` (the
 * PostgreSQL transport on the `--database` server); an {@link ArgumentError} naming where
 * the value came from and what is accepted otherwise.
 */
export function resolveTransportSpec(option: string | undefined, env: CliEnv): string {
  const [source, spec] = option !== undefined ? ['--transport', option]
    : env.DATASYNC_TRANSPORT ? ['DATASYNC_TRANSPORT', env.DATASYNC_TRANSPORT] : ['default', 'postgres'];
  try {
    parseTransportSpec(spec);
  } catch {
    throw new ArgumentError(source, redactUrl(spec), `${SUPPORTED_TRANSPORTS}, e.g. redis://127.0.0.1:6379`);
  }
  return spec;
}

/** Where a spec sends events, for messages: `redis-streams at 127.0.0.1:6379`, `postgres at <database>`. */
export function describeTransportSpec(spec: string, databaseUrl: string): string {
  const { name, url } = parseTransportSpec(spec, databaseUrl);
  let address = '';
  try {
    const parsed = new URL(url ?? '');
    address = ` at ${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}`;
  } catch {
    address = '';
  }
  return `${name}${address}`;
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
  #transport: Transport | undefined;

  /** Opens the PostgreSQL pool (a few connections; the CLI runs one statement at a time). */
  async database(url: string): Promise<pg.Pool> {
    this.#pool ??= await openPostgres(url, { max: 2, connectionTimeoutMillis: 5_000 });
    return this.#pool;
  }

  /** Connects the transport a spec names (`postgres` uses `databaseUrl`). */
  async transport(spec: string, databaseUrl: string): Promise<Transport> {
    this.#transport ??= await connectTransport(spec, { databaseUrl });
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
