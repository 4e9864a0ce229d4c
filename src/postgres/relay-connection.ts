import pg from 'pg';
import { ServerUnreachableError } from '../core/errors.js';
import { describeAddress } from './pool.js';
import type { ResolvedRelayBaseConfig } from './relay-config.js';

type ConnectionConfig = Pick<ResolvedRelayBaseConfig, 'connectionString' | 'clientConfig'>;

/**
 * `pg.Client` options of a relay session: a 5 s connect timeout, TCP keep-alive and
 * `application_name`, then the caller's `clientConfig`, then its `connectionString`.
 */
export function relayClientConfig(config: ConnectionConfig, applicationName: string): pg.ClientConfig {
  return {
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    application_name: applicationName,
    ...config.clientConfig,
    connectionString: config.connectionString,
  };
}

/**
 * Opens a relay's leader session with `synchronous_commit = off`. Rejects with
 * ServerUnreachableError naming the address when the server does not answer; once open,
 * errors of the connection go to `onError` (the connection is then dead).
 */
export async function openRelaySession(config: ConnectionConfig, applicationName: string, onError: (error: Error) => void): Promise<pg.Client> {
  const client = new pg.Client(relayClientConfig(config, applicationName));
  client.on('error', onError);
  try {
    await client.connect();
    // A lost cursor update only means rows are published again, so the relay's commits
    // need not wait for the WAL flush (see docs/relay.md).
    await client.query('SET synchronous_commit = off');
  } catch (cause) {
    await disconnect(client);
    throw new ServerUnreachableError('PostgreSQL', describeAddress(config.connectionString), { cause });
  }
  return client;
}

/** Ends a client, giving up after a second (a dead socket may never confirm). Never rejects. */
export async function disconnect(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
  clearTimeout(timer);
}

