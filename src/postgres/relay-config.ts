import { hostname } from 'node:os';
import type pg from 'pg';
import { ConfigurationError } from '../core/errors.js';
import { newInstanceId } from '../core/ids.js';
import type { Publisher } from '../transports/transport.js';
import { SyncMetrics } from '../observability/sync-metrics.js';
import { DEFAULT_DATABASE_URL } from './pool.js';
import type { SqlPool } from './sql.js';
import { quoteIdent } from './sql.js';

/** Test and logging hooks of a relay (`OutboxRelay` or `CdcRelay`). */
export interface RelayHooks {
  /**
   * Awaited after the broker acknowledged a batch and before the cursor moves. If it
   * throws, the batch counts as failed and is published again after backoff.
   */
  readonly afterPublish?: (batch: { count: number; lastId: string }) => Promise<void> | void;
  /** Receives every error the relay recovers from (publish failure, lost connection, RELAY_FENCED). */
  readonly onError?: (error: unknown) => void;
}

/** Counters of one relay instance; see `OutboxRelay.stats()` and `CdcRelay.stats()`. */
export interface RelayStats {
  /** Events this instance published and marked sent. */
  readonly published: number;
  /** Batches this instance marked sent. */
  readonly batches: number;
  /** Size of the last batch marked sent; 0 before the first. */
  readonly lastBatchSize: number;
  readonly isLeader: boolean;
  /** The fencing token held while leader; `null` on a standby. */
  readonly fencingToken: number | null;
}

/**
 * The configuration fields both relays take (`RelayConfig` and `CdcRelayConfig` extend it,
 * redeclaring a field where its meaning differs); every optional field names its default.
 */
export interface RelayBaseConfig {
  /** PostgreSQL URL of the relay's sessions (the leader session, and in CDC mode the replication session). Default: `DATABASE_URL`, else {@link DEFAULT_DATABASE_URL}. */
  readonly connectionString?: string;
  /** Further `pg.Client` options for every session the relay opens (ssl, password, …); values in `connectionString` take precedence. Default: none. */
  readonly clientConfig?: pg.ClientConfig;
  /** Pool for queries off the leader session (retention purge). Default: a one-connection pool the relay opens and closes. */
  readonly pool?: SqlPool;
  /** Schema holding `outbox` and `outbox_relay` (migrated with `migrate()`). Required. */
  readonly schema: string;
  /** Where events go. Required. The relay never closes it. */
  readonly publisher: Publisher;
  /** Name recorded in `outbox_relay.leader`. Default: `<hostname>/<pid>/<random>`. */
  readonly instanceId?: string;
  /** Most rows published per round. Default 500. */
  readonly batchSize?: number;
  /** How often a standby tries to take the leader lock. Default 1000 ms. */
  readonly leaderRetryMs?: number;
  /** Longest time the leader goes without touching `heartbeat_at` (and checking its fencing token). Default 2000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Sent rows older than this are deleted. Default 7 days. */
  readonly retentionMs?: number;
  /** How often the leader purges sent rows past retention. Default 60 000 ms. */
  readonly purgeIntervalMs?: number;
  /** See {@link RelayHooks}. Default: none. */
  readonly hooks?: RelayHooks;
  /**
   * Where the relay counts the events it published (`datasync_events_published_total`) and, when
   * `pool` is given, reports the outbox backlog at each scrape (`datasync_outbox_pending`,
   * `datasync_outbox_oldest_age_seconds`). Default datasync's registry (`SyncMetrics.for()`); false for none.
   */
  readonly metrics?: SyncMetrics | false;
}

/** Defaults of the fields in {@link RelayBaseConfig}. */
export const DEFAULT_RELAY_BASE_CONFIG = {
  batchSize: 500,
  leaderRetryMs: 1_000,
  heartbeatIntervalMs: 2_000,
  retentionMs: 7 * 24 * 60 * 60 * 1_000,
  purgeIntervalMs: 60_000,
} as const;

/** A {@link RelayBaseConfig} with every default filled in. */
export type ResolvedRelayBaseConfig = Required<Omit<RelayBaseConfig, 'pool' | 'clientConfig' | 'hooks' | 'metrics'>> &
  Pick<RelayBaseConfig, 'pool' | 'clientConfig'> & { readonly hooks: RelayHooks; readonly metrics: SyncMetrics | undefined };

/**
 * Fills in the defaults of the shared fields (`DATABASE_URL` for the connection, a fresh
 * instance id) and checks them: a valid schema name, a Publisher, a non-empty instance id,
 * positive integers, `batchSize` at most 100 000. Throws ConfigurationError naming the field.
 * A relay's own fields are the relay's to resolve and check.
 */
export function resolveRelayConfig(config: RelayBaseConfig): ResolvedRelayBaseConfig {
  const given = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as Partial<RelayBaseConfig>;
  const resolved: ResolvedRelayBaseConfig = {
    ...DEFAULT_RELAY_BASE_CONFIG,
    ...given,
    schema: config.schema,
    publisher: config.publisher,
    connectionString: config.connectionString ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    instanceId: config.instanceId ?? `${hostname()}/${process.pid}/${newInstanceId()}`,
    hooks: config.hooks ?? {},
    metrics: config.metrics === false ? undefined : (config.metrics ?? SyncMetrics.for()),
  };
  quoteIdent(resolved.schema, 'schema');
  if (typeof resolved.publisher?.publish !== 'function') throw new ConfigurationError('publisher', resolved.publisher, 'a Publisher (an object with publish())');
  if (!resolved.instanceId) throw new ConfigurationError('instanceId', resolved.instanceId, 'a non-empty string');
  assertPositiveIntegers(resolved, ['batchSize', 'leaderRetryMs', 'heartbeatIntervalMs', 'retentionMs', 'purgeIntervalMs']);
  if (resolved.batchSize > 100_000) throw new ConfigurationError('batchSize', resolved.batchSize, 'at most 100000');
  return resolved;
}

/** Throws ConfigurationError naming the first of `fields` whose value is not a positive integer. */
export function assertPositiveIntegers<C>(config: C, fields: readonly (keyof C & string)[]): void {
  for (const field of fields) {
    const value = config[field];
    if (!Number.isInteger(value) || (value as number) < 1) throw new ConfigurationError(field, value, 'a positive integer');
  }
}
