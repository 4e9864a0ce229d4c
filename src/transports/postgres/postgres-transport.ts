import type pg from 'pg';
import { ServerUnreachableError } from '../../core/errors.js';
import { describeAddress, openPostgres } from '../../postgres/pool.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../payload.js';
import type { Transport, TransportCapabilities } from '../transport.js';
import { validate, withDefaults, type PostgresTransportConfig, type ResolvedPostgresTransportConfig } from './config.js';
import { describeFailure, type TransportConnection } from './connection.js';
import { TopicListener } from './listener.js';
import { assertTransportMigrated, migrateTransport } from './migrations.js';
import { TopicNotifier } from './notifier.js';
import { PostgresPublisher } from './publisher.js';
import { PurgeSchedule, purgeTopicLog } from './purge.js';
import { transportChannel, transportStatements } from './statements.js';
import { PostgresSubscriber } from './subscriber.js';

/**
 * What the PostgreSQL transport promises: consumer groups (a new group starts at the beginning of
 * the log), persistence as durable as a PostgreSQL commit, redelivery on nack, with a delay too.
 * Members of a group share the work, so there is no order per key across members; a single
 * member gets `(xid, id)` order on first delivery.
 */
export const POSTGRES_TRANSPORT_CAPABILITIES: TransportCapabilities = Object.freeze({
  consumerGroups: true,
  orderedPerKey: false,
  persistent: true,
  redeliversOnNack: true,
  delayedRedelivery: true,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
});

/**
 * A {@link Transport} on PostgreSQL alone (src/transports/postgres/README.md): one topic log
 * table per database, consumer-group offsets, claims with a processing timeout, LISTEN/NOTIFY
 * wake-up with a fallback poll.
 */
export interface PostgresTransport extends Transport {
  /** The configuration in force, defaults filled in. */
  readonly config: ResolvedPostgresTransportConfig;
  /**
   * Runs the retention purge now (it also runs every `purgeIntervalMs`): deletes log rows older
   * than `retentionMs` that every group of their topic has passed and no claim holds. Resolves
   * to the number of rows deleted (0 while another transport purges the same schema).
   */
  purge(): Promise<number>;
}

/**
 * Connects to PostgreSQL, checks it answers, and creates the transport's schema and tables when
 * missing (unless `migrate: false`). Rejects with `ServerUnreachableError` naming
 * `host:port/database` when PostgreSQL does not answer within `connectTimeoutMs`, and with
 * `ConfigurationError` naming the field for a config value that cannot work. After that, lost
 * connections are re-established with backoff (up to 2 s) and subscriptions resume by themselves.
 */
export async function createPostgresTransport(config?: PostgresTransportConfig): Promise<PostgresTransport> {
  const resolved = validate(withDefaults(config));
  const ownPool = resolved.pool === undefined;
  const address = ownPool ? describeAddress(resolved.connectionString) : addressOfPool(resolved.pool);
  const pool = resolved.pool ?? (await openPostgres(resolved.connectionString, {
    max: resolved.poolSize,
    connectionTimeoutMillis: resolved.connectTimeoutMs,
    keepAlive: true,
    application_name: 'datasync-transport',
  }));
  try {
    if (!ownPool) await pool.query('SELECT 1').catch((cause: unknown) => Promise.reject(new ServerUnreachableError('PostgreSQL', address, { cause })));
    if (resolved.migrate) await migrateTransport(pool, resolved.schema);
    else await assertTransportMigrated(pool, resolved.schema);
  } catch (error) {
    if (ownPool) await pool.end().catch(() => undefined);
    throw describeFailure(error, address);
  }

  const statements = transportStatements(resolved.schema);
  const channel = transportChannel(resolved.schema);
  const report = (error: unknown): void => {
    try {
      resolved.onError?.(describeFailure(error, address));
    } catch {
      // a logging hook must not stop the transport
    }
  };
  const connection: TransportConnection = {
    pool,
    config: resolved,
    statements,
    address,
    report,
    listener: new TopicListener(pool, channel, report),
    notifier: new TopicNotifier(pool, statements.notify, channel, resolved.notifyIntervalMs),
  };
  const purge = (): Promise<number> => purgeTopicLog(pool, statements, resolved.schema, resolved.retentionMs);
  const schedule = new PurgeSchedule(purge, resolved.purgeIntervalMs, report);
  const publisher = new PostgresPublisher(connection);
  const subscriber = new PostgresSubscriber(connection);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await Promise.all([subscriber.close(), publisher.close()]);
      await schedule.stop();
      if (ownPool) await pool.end().catch(() => undefined);
    })());
  return {
    name: 'postgres',
    capabilities: POSTGRES_TRANSPORT_CAPABILITIES,
    config: resolved,
    publisher,
    subscriber,
    lag: (topic, group) => subscriber.lag(topic, group),
    purge: () => (closing ? Promise.resolve(0) : schedule.runNow()),
    close,
  };
}

/** `host:port/database` of a caller's pool, for errors. */
function addressOfPool(pool: pg.Pool): string {
  const options = pool.options ?? {};
  if (typeof options.connectionString === 'string') return describeAddress(options.connectionString);
  const host = typeof options.host === 'string' ? options.host : 'localhost';
  return `${host}:${options.port ?? 5432}/${options.database ?? ''}`;
}
