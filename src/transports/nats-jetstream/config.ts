import { ConfigurationError } from '../../core/errors.js';
import { requireInteger, requireNonEmptyString } from '../config-checks.js';

/** Configuration of {@link createNatsJetStreamTransport}. Every field is optional. */
export interface NatsJetStreamConfig {
  /**
   * The NATS server: `nats://host:port` (or `tls://…`), credentials as `nats://user:pass@…` or
   * `nats://token@…`; several servers of one cluster comma-separated. Default
   * `process.env.NATS_URL ?? 'nats://127.0.0.1:4222'`. The server must run JetStream (`-js`).
   */
  readonly url?: string;
  /** How long the initial connection and JetStream check may take before the factory gives up; default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** How long one JetStream API request or one publish acknowledgement (PubAck) may take; default 10000 ms. */
  readonly requestTimeoutMs?: number;
  /**
   * The consumer's `ack_wait`: a message delivered but not acked for this long, by a member that
   * no longer keeps it alive, is redelivered to the group (Dapr's `processingTimeout`); default 60000 ms.
   */
  readonly processingTimeoutMs?: number;
  /**
   * How often a subscription sends "working" (`+WPI`) for the messages it holds, so a slow handler
   * is not redelivered while it runs; default `processingTimeoutMs / 3`. Must be shorter than
   * `processingTimeoutMs`.
   */
  readonly keepAliveIntervalMs?: number;
  /** Messages per pull request, unless `SubscribeOptions.batchSize` says otherwise; default 100. */
  readonly batchSize?: number;
  /** How long one pull request waits for messages on the server (JetStream's `expires`); default 5000 ms, at least 1000. */
  readonly fetchExpiresMs?: number;
  /**
   * The consumer's `max_ack_pending`: how many messages the whole group may hold unacked (including
   * those waiting out a nack delay) before the server stops delivering; default 1000.
   */
  readonly maxAckPending?: number;
  /**
   * The stream's `duplicate_window`: a second publish of an event id (`Nats-Msg-Id`) within this
   * window is not stored again; default 120000 ms (2 min). Applied when this transport creates a stream.
   */
  readonly duplicateWindowMs?: number;
  /**
   * The stream's `max_age`: messages older than this are removed whether or not every group read
   * them. Default unset: kept until removed by hand. Applied when this transport creates a stream.
   */
  readonly maxAgeMs?: number;
  /** Where a stream this transport creates keeps its messages; default `'file'` (survives a restart). */
  readonly storage?: 'file' | 'memory';
  /** `num_replicas` of a stream this transport creates (1 on a single server, 3 or 5 in a cluster); default 1. */
  readonly replicas?: number;
  /** Prefix of the stream names this transport creates (`<prefix><FAMILY>`); default `'DATASYNC_'`. */
  readonly streamPrefix?: string;
  /** Written as the CloudEvent `pubsubname` into events that have none (Dapr's component name); default `'datasync'`. */
  readonly pubsubName?: string;
}

/** {@link NatsJetStreamConfig} with every default filled in. */
export interface ResolvedNatsJetStreamConfig {
  readonly url: string;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly processingTimeoutMs: number;
  readonly keepAliveIntervalMs: number;
  readonly batchSize: number;
  readonly fetchExpiresMs: number;
  readonly maxAckPending: number;
  readonly duplicateWindowMs: number;
  readonly maxAgeMs: number | undefined;
  readonly storage: 'file' | 'memory';
  readonly replicas: number;
  readonly streamPrefix: string;
  readonly pubsubName: string;
}

/**
 * The fixed defaults. `url` gives way to `NATS_URL`, `keepAliveIntervalMs` defaults to a third
 * of `processingTimeoutMs`, and `maxAgeMs` is unset (no age limit).
 */
export const DEFAULT_NATS_JETSTREAM_CONFIG = Object.freeze({
  url: 'nats://127.0.0.1:4222',
  connectTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  processingTimeoutMs: 60_000,
  batchSize: 100,
  fetchExpiresMs: 5_000,
  maxAckPending: 1_000,
  duplicateWindowMs: 120_000,
  storage: 'file' as const,
  replicas: 1,
  streamPrefix: 'DATASYNC_',
  pubsubName: 'datasync',
});

/** Fills in the defaults (see {@link NatsJetStreamConfig}); does not check values. */
export function withDefaults(config: NatsJetStreamConfig = {}): ResolvedNatsJetStreamConfig {
  const defaults = DEFAULT_NATS_JETSTREAM_CONFIG;
  const processingTimeoutMs = config.processingTimeoutMs ?? defaults.processingTimeoutMs;
  return {
    url: config.url ?? process.env.NATS_URL ?? defaults.url,
    connectTimeoutMs: config.connectTimeoutMs ?? defaults.connectTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs ?? defaults.requestTimeoutMs,
    processingTimeoutMs,
    keepAliveIntervalMs: config.keepAliveIntervalMs ?? Math.max(1, Math.floor(processingTimeoutMs / 3)),
    batchSize: config.batchSize ?? defaults.batchSize,
    fetchExpiresMs: config.fetchExpiresMs ?? defaults.fetchExpiresMs,
    maxAckPending: config.maxAckPending ?? defaults.maxAckPending,
    duplicateWindowMs: config.duplicateWindowMs ?? defaults.duplicateWindowMs,
    maxAgeMs: config.maxAgeMs,
    storage: config.storage ?? defaults.storage,
    replicas: config.replicas ?? defaults.replicas,
    streamPrefix: config.streamPrefix ?? defaults.streamPrefix,
    pubsubName: config.pubsubName ?? defaults.pubsubName,
  };
}

/** Throws {@link ConfigurationError} naming the first field whose value cannot work. */
export function validate(config: ResolvedNatsJetStreamConfig): ResolvedNatsJetStreamConfig {
  if (natsServersOf(config.url) === undefined) {
    throw new ConfigurationError('url', config.url, 'a nats:// or tls:// URL (several comma-separated), e.g. nats://127.0.0.1:4222');
  }
  for (const field of ['connectTimeoutMs', 'requestTimeoutMs', 'processingTimeoutMs', 'keepAliveIntervalMs', 'batchSize', 'maxAckPending', 'duplicateWindowMs', 'replicas'] as const) {
    requireInteger(field, config[field]);
  }
  if (config.keepAliveIntervalMs >= config.processingTimeoutMs) {
    throw new ConfigurationError('keepAliveIntervalMs', config.keepAliveIntervalMs, `less than processingTimeoutMs (${config.processingTimeoutMs}), or held messages are redelivered while their handler runs`);
  }
  requireInteger('fetchExpiresMs', config.fetchExpiresMs);
  if (config.fetchExpiresMs < 1_000) throw new ConfigurationError('fetchExpiresMs', config.fetchExpiresMs, 'at least 1000 (the NATS client refuses shorter pull requests)');
  if (config.maxAgeMs !== undefined) {
    requireInteger('maxAgeMs', config.maxAgeMs);
    if (config.duplicateWindowMs > config.maxAgeMs) {
      throw new ConfigurationError('duplicateWindowMs', config.duplicateWindowMs, `at most maxAgeMs (${config.maxAgeMs}); JetStream refuses a duplicate window longer than the stream's max age`);
    }
  }
  if (config.storage !== 'file' && config.storage !== 'memory') throw new ConfigurationError('storage', config.storage, "'file' or 'memory'");
  if (typeof config.streamPrefix !== 'string' || !/^[A-Za-z0-9_-]*$/.test(config.streamPrefix)) {
    throw new ConfigurationError('streamPrefix', config.streamPrefix, 'letters, digits, _ and - only (a JetStream stream name)');
  }
  requireNonEmptyString('pubsubName', config.pubsubName);
  return config;
}

/** The servers of a NATS URL, as the client takes them, plus credentials found in it. */
export interface NatsServers {
  /** `host:port` of each server, for the client and for error messages. */
  readonly addresses: readonly string[];
  readonly tls: boolean;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
}

/** Parses `url` (comma-separated `nats://` or `tls://` URLs); `undefined` when it is not one. */
export function natsServersOf(url: string): NatsServers | undefined {
  if (typeof url !== 'string' || url.trim() === '') return undefined;
  const addresses: string[] = [];
  let tls = false;
  let credentials: { user?: string; pass?: string; token?: string } = {};
  for (const part of url.split(',')) {
    let parsed: URL;
    try {
      parsed = new URL(part.trim());
    } catch {
      return undefined;
    }
    if (parsed.protocol !== 'nats:' && parsed.protocol !== 'tls:') return undefined;
    if (parsed.hostname === '') return undefined;
    tls ||= parsed.protocol === 'tls:';
    addresses.push(`${parsed.hostname}:${parsed.port || '4222'}`);
    if (parsed.username !== '' && credentials.user === undefined && credentials.token === undefined) {
      const name = decodeURIComponent(parsed.username);
      credentials = parsed.password === '' ? { token: name } : { user: name, pass: decodeURIComponent(parsed.password) };
    }
  }
  return { addresses, tls, ...credentials };
}

/** `host:port` of the servers of a NATS URL, for error messages; `undefined` when it is not one. */
export function natsAddressOf(url: string): string | undefined {
  return natsServersOf(url)?.addresses.join(',');
}
