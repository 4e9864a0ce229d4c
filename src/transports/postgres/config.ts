import type pg from 'pg';
import { ConfigurationError } from '../../core/errors.js';
import { requireBoolean, requireInteger } from '../config-checks.js';
import { DEFAULT_DATABASE_URL } from '../../postgres/pool.js';
import { quoteIdent } from '../../postgres/sql.js';

/** Configuration of {@link createPostgresTransport}. Every field is optional. */
export interface PostgresTransportConfig {
  /**
   * PostgreSQL to connect to; default `process.env.DATABASE_URL`, else
   * `postgres://postgres@127.0.0.1:5432/postgres`. Ignored when `pool` is given.
   */
  readonly connectionString?: string;
  /**
   * A pool to run on instead of opening one. The transport never ends it, and keeps one of its
   * connections checked out for LISTEN while any subscription is open. Default: the transport
   * opens its own pool of `poolSize` connections and ends it on `close()`.
   */
  readonly pool?: pg.Pool;
  /** Connections of the transport's own pool (ignored with `pool`); default 10. */
  readonly poolSize?: number;
  /** Schema holding the transport's tables, created on first use; default `'datasync_transport'`. */
  readonly schema?: string;
  /**
   * Create the schema and tables when missing (an advisory-locked, idempotent migration); default
   * `true`. With `false` the factory only checks they exist and rejects with SCHEMA_NOT_MIGRATED.
   */
  readonly migrate?: boolean;
  /** How long the initial connection may take before the factory gives up; default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * A delivery taken but neither acked nor nacked, whose member stopped keeping it alive, goes to
   * another member of the group after this long, with `attempt + 1`; default 60000 ms.
   */
  readonly processingTimeoutMs?: number;
  /**
   * How often a subscription pushes the claim time of the deliveries it holds forward, so a slow
   * handler is not redelivered while it runs; default `processingTimeoutMs / 3`. Must be shorter
   * than `processingTimeoutMs`.
   */
  readonly keepAliveIntervalMs?: number;
  /**
   * The claim-timeout sweep: how often a subscription takes over claims that lapsed (their member
   * stopped) or whose nack delay ran out; default 15000 ms (Dapr's `redeliverInterval`).
   */
  readonly redeliverIntervalMs?: number;
  /**
   * The fallback poll: how long an idle subscription waits for a NOTIFY before reading the log
   * anyway (a lost LISTEN connection, a NOTIFY that failed); default 1000 ms.
   */
  readonly pollIntervalMs?: number;
  /** Rows taken per read, unless `SubscribeOptions.batchSize` says otherwise; default 100. */
  readonly batchSize?: number;
  /**
   * Log rows older than this that every group of their topic has passed (and no claim holds) are
   * deleted by the periodic purge; default 7 days. A group created later does not see them.
   */
  readonly retentionMs?: number;
  /** How often each transport runs the purge (one at a time per schema); default 60000 ms. */
  readonly purgeIntervalMs?: number;
  /**
   * Least time between two NOTIFYs this transport sends after publishes; calls meanwhile are
   * coalesced into one more. Default 10 ms.
   */
  readonly notifyIntervalMs?: number;
  /**
   * Receives every error the transport recovers from by itself: a failed read (retried with
   * backoff), a lost LISTEN connection (re-established), a failed keep-alive or purge (tried
   * again next interval). For logs and metrics; it must not throw. Default: none.
   */
  readonly onError?: (error: unknown) => void;
}

/** {@link PostgresTransportConfig} with every default filled in. */
export interface ResolvedPostgresTransportConfig {
  readonly connectionString: string;
  readonly pool: pg.Pool | undefined;
  readonly poolSize: number;
  readonly schema: string;
  readonly migrate: boolean;
  readonly connectTimeoutMs: number;
  readonly processingTimeoutMs: number;
  readonly keepAliveIntervalMs: number;
  readonly redeliverIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly batchSize: number;
  readonly retentionMs: number;
  readonly purgeIntervalMs: number;
  readonly notifyIntervalMs: number;
  readonly onError: ((error: unknown) => void) | undefined;
}

/**
 * The fixed defaults. `connectionString` gives way to `DATABASE_URL`, and
 * `keepAliveIntervalMs` defaults to a third of `processingTimeoutMs`.
 */
export const DEFAULT_POSTGRES_TRANSPORT_CONFIG = Object.freeze({
  connectionString: DEFAULT_DATABASE_URL,
  poolSize: 10,
  schema: 'datasync_transport',
  migrate: true,
  connectTimeoutMs: 5_000,
  processingTimeoutMs: 60_000,
  redeliverIntervalMs: 15_000,
  pollIntervalMs: 1_000,
  batchSize: 100,
  retentionMs: 7 * 24 * 60 * 60 * 1_000,
  purgeIntervalMs: 60_000,
  notifyIntervalMs: 10,
});

/** Fills in the defaults (see {@link PostgresTransportConfig}); does not check values. */
export function withDefaults(config: PostgresTransportConfig = {}): ResolvedPostgresTransportConfig {
  const defaults = DEFAULT_POSTGRES_TRANSPORT_CONFIG;
  const processingTimeoutMs = config.processingTimeoutMs ?? defaults.processingTimeoutMs;
  return {
    connectionString: config.connectionString ?? process.env.DATABASE_URL ?? defaults.connectionString,
    pool: config.pool,
    poolSize: config.poolSize ?? defaults.poolSize,
    schema: config.schema ?? defaults.schema,
    migrate: config.migrate ?? defaults.migrate,
    connectTimeoutMs: config.connectTimeoutMs ?? defaults.connectTimeoutMs,
    processingTimeoutMs,
    keepAliveIntervalMs: config.keepAliveIntervalMs ?? Math.max(1, Math.floor(processingTimeoutMs / 3)),
    redeliverIntervalMs: config.redeliverIntervalMs ?? defaults.redeliverIntervalMs,
    pollIntervalMs: config.pollIntervalMs ?? defaults.pollIntervalMs,
    batchSize: config.batchSize ?? defaults.batchSize,
    retentionMs: config.retentionMs ?? defaults.retentionMs,
    purgeIntervalMs: config.purgeIntervalMs ?? defaults.purgeIntervalMs,
    notifyIntervalMs: config.notifyIntervalMs ?? defaults.notifyIntervalMs,
    onError: config.onError,
  };
}

/** Largest interval accepted: setTimeout cannot wait longer than 2^31 - 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Throws {@link ConfigurationError} naming the first field whose value cannot work. */
export function validate(config: ResolvedPostgresTransportConfig): ResolvedPostgresTransportConfig {
  if (config.pool !== undefined && (typeof config.pool !== 'object' || typeof config.pool.connect !== 'function' || typeof config.pool.query !== 'function')) {
    throw new ConfigurationError('pool', config.pool, 'a pg.Pool');
  }
  if (config.pool === undefined && !isPostgresUrl(config.connectionString)) {
    throw new ConfigurationError('connectionString', config.connectionString, 'a postgres:// or postgresql:// URL, e.g. postgres://postgres@127.0.0.1:5432/postgres');
  }
  if (typeof config.schema !== 'string') throw new ConfigurationError('schema', config.schema, 'a lower-case SQL identifier');
  quoteIdent(config.schema, 'schema');
  if (config.onError !== undefined && typeof config.onError !== 'function') throw new ConfigurationError('onError', config.onError, 'a function');
  requireBoolean('migrate', config.migrate);
  const timers = ['connectTimeoutMs', 'processingTimeoutMs', 'keepAliveIntervalMs', 'redeliverIntervalMs', 'pollIntervalMs', 'purgeIntervalMs', 'notifyIntervalMs'] as const;
  for (const field of timers) requireInteger(field, config[field], 1, MAX_TIMER_MS);
  requireInteger('poolSize', config.poolSize, 2, 10_000);
  requireInteger('batchSize', config.batchSize, 1, 100_000);
  requireInteger('retentionMs', config.retentionMs);
  if (config.keepAliveIntervalMs >= config.processingTimeoutMs) {
    throw new ConfigurationError('keepAliveIntervalMs', config.keepAliveIntervalMs, `less than processingTimeoutMs (${config.processingTimeoutMs}), or held deliveries go to other members`);
  }
  return config;
}

function isPostgresUrl(url: unknown): boolean {
  if (typeof url !== 'string') return false;
  try {
    const { protocol } = new URL(url);
    return protocol === 'postgres:' || protocol === 'postgresql:';
  } catch {
    return false;
  }
}
