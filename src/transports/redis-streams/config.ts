import { ConfigurationError } from '../../core/errors.js';
import { requireInteger, requireNonEmptyString } from '../config-checks.js';

/** Configuration of {@link createRedisStreamsTransport}. Every field is optional. */
export interface RedisStreamsConfig {
  /** Redis to connect to; default `process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'`. */
  readonly url?: string;
  /** How long the initial connection may take before the factory gives up; default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * An entry delivered but not acked for this long, by a member that no longer keeps it
   * alive, is claimed by another member (Dapr's `processingTimeout`); default 60000 ms.
   */
  readonly processingTimeoutMs?: number;
  /** How often a member looks for such entries with XAUTOCLAIM (Dapr's `redeliverInterval`); default 15000 ms. */
  readonly redeliverIntervalMs?: number;
  /**
   * How often a member resets the idle time of entries it holds (XCLAIM … JUSTID), so a slow
   * handler is not claimed while it runs; default `processingTimeoutMs / 3`. Must be shorter
   * than `processingTimeoutMs`.
   */
  readonly keepAliveIntervalMs?: number;
  /**
   * `XADD … MAXLEN ~ N`: caps each topic stream at about N entries; default `undefined`, no
   * trimming. Risk: trimming deletes the oldest entries whether or not every group has read
   * them, so a slow or absent group loses events. Set it well above the largest backlog.
   */
  readonly maxLenApprox?: number;
  /** `XREADGROUP … BLOCK`: how long one read waits for new entries; default 1000 ms. */
  readonly blockMs?: number;
  /** Entries fetched per read or claim, unless `SubscribeOptions.batchSize` says otherwise; default 100. */
  readonly batchSize?: number;
  /** Written as the CloudEvent `pubsubname` into events that have none (Dapr's component name); default `'datasync'`. */
  readonly pubsubName?: string;
}

/** {@link RedisStreamsConfig} with every default filled in. */
export interface ResolvedRedisStreamsConfig {
  readonly url: string;
  readonly connectTimeoutMs: number;
  readonly processingTimeoutMs: number;
  readonly redeliverIntervalMs: number;
  readonly keepAliveIntervalMs: number;
  readonly maxLenApprox: number | undefined;
  readonly blockMs: number;
  readonly batchSize: number;
  readonly pubsubName: string;
}

/**
 * The fixed defaults. `url` gives way to `REDIS_URL`, `keepAliveIntervalMs` defaults to a
 * third of `processingTimeoutMs`, and `maxLenApprox` is unset (no trimming).
 */
export const DEFAULT_REDIS_STREAMS_CONFIG = Object.freeze({
  url: 'redis://127.0.0.1:6379',
  connectTimeoutMs: 5_000,
  processingTimeoutMs: 60_000,
  redeliverIntervalMs: 15_000,
  blockMs: 1_000,
  batchSize: 100,
  pubsubName: 'datasync',
});

/** Fills in the defaults (see {@link RedisStreamsConfig}); does not check values. */
export function withDefaults(config: RedisStreamsConfig = {}): ResolvedRedisStreamsConfig {
  const defaults = DEFAULT_REDIS_STREAMS_CONFIG;
  const processingTimeoutMs = config.processingTimeoutMs ?? defaults.processingTimeoutMs;
  return {
    url: config.url ?? process.env.REDIS_URL ?? defaults.url,
    connectTimeoutMs: config.connectTimeoutMs ?? defaults.connectTimeoutMs,
    processingTimeoutMs,
    redeliverIntervalMs: config.redeliverIntervalMs ?? defaults.redeliverIntervalMs,
    keepAliveIntervalMs: config.keepAliveIntervalMs ?? Math.max(1, Math.floor(processingTimeoutMs / 3)),
    maxLenApprox: config.maxLenApprox,
    blockMs: config.blockMs ?? defaults.blockMs,
    batchSize: config.batchSize ?? defaults.batchSize,
    pubsubName: config.pubsubName ?? defaults.pubsubName,
  };
}

/** Throws {@link ConfigurationError} naming the first field whose value cannot work. */
export function validate(config: ResolvedRedisStreamsConfig): ResolvedRedisStreamsConfig {
  if (redisAddressOf(config.url) === undefined) {
    throw new ConfigurationError('url', config.url, 'a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379');
  }
  for (const field of ['connectTimeoutMs', 'processingTimeoutMs', 'redeliverIntervalMs', 'keepAliveIntervalMs', 'blockMs', 'batchSize'] as const) {
    requireInteger(field, config[field]);
  }
  if (config.keepAliveIntervalMs >= config.processingTimeoutMs) {
    throw new ConfigurationError('keepAliveIntervalMs', config.keepAliveIntervalMs, `less than processingTimeoutMs (${config.processingTimeoutMs}), or held entries get claimed by other members`);
  }
  if (config.maxLenApprox !== undefined) requireInteger('maxLenApprox', config.maxLenApprox);
  requireNonEmptyString('pubsubName', config.pubsubName);
  return config;
}

/** `host:port` of a Redis URL, for error messages; `undefined` when it is not one. */
export function redisAddressOf(url: string): string | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') return undefined;
    return `${parsed.hostname || '127.0.0.1'}:${parsed.port || '6379'}`;
  } catch {
    return undefined;
  }
}
