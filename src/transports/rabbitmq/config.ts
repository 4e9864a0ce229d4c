import { ConfigurationError } from '../../core/errors.js';
import { requireBoolean, requireInteger } from '../config-checks.js';

/** Configuration of {@link createRabbitMqTransport}. Every field is optional. */
export interface RabbitMqConfig {
  /**
   * The broker, as an AMQP 0-9-1 URL (`amqp://` or `amqps://`, with user, password, vhost and
   * query options such as `heartbeat` as amqplib reads them); default
   * `process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'`.
   */
  readonly url?: string;
  /**
   * The durable topic exchange every event is published to, with the topic as routing key;
   * default `'datasync'`. Dead letters go to `<exchange>.dlx`.
   */
  readonly exchange?: string;
  /** How long the initial connection may take before the factory gives up; default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * Prefetch of each subscription (deliveries handed out and not yet acked or nacked), unless
   * `SubscribeOptions.batchSize` says otherwise; default 100. Deliveries held for a
   * `nack({ delayMs })` count against it.
   */
  readonly batchSize?: number;
  /**
   * `x-delivery-limit` of every group queue: a message given back (nack, or its consumer's
   * channel closed) more often than this is moved to the group's dead-letter queue
   * `<queue>.dlq`; default 20. A safety net for poison loops: the runtime dead-letters a
   * failing event itself after 4 attempts. Fixed when a queue is first declared; see README.
   */
  readonly deliveryLimit?: number;
  /**
   * The largest event, as CloudEvent JSON in bytes, that `publish` accepts; default 134217728
   * (128 MiB, RabbitMQ 3.x's default `max_message_size`). At most 536870912, RabbitMQ's hard
   * limit; raise the broker's `max_message_size` to match before raising this.
   */
  readonly maxPayloadBytes?: number;
  /**
   * Publish with AMQP `mandatory`: an event that no group queue is bound to take is returned
   * by the broker and `publish` rejects, so the relay keeps it and tries again later, instead
   * of the exchange dropping it. Default `false`: one topic without any group would otherwise
   * hold up every later event of the outbox. See README, "Events published before a group exists".
   */
  readonly mandatory?: boolean;
}

/** {@link RabbitMqConfig} with every default filled in. */
export interface ResolvedRabbitMqConfig {
  readonly url: string;
  readonly exchange: string;
  readonly connectTimeoutMs: number;
  readonly batchSize: number;
  readonly deliveryLimit: number;
  readonly maxPayloadBytes: number;
  readonly mandatory: boolean;
}

/** RabbitMQ's hard upper bound of `max_message_size` (512 MiB). */
export const RABBITMQ_MAX_MESSAGE_SIZE_LIMIT = 536_870_912;

/** The fixed defaults; `url` gives way to `AMQP_URL`. */
export const DEFAULT_RABBITMQ_CONFIG = Object.freeze({
  url: 'amqp://guest:guest@127.0.0.1:5672',
  exchange: 'datasync',
  connectTimeoutMs: 5_000,
  batchSize: 100,
  deliveryLimit: 20,
  maxPayloadBytes: 134_217_728,
  mandatory: false,
});

/** Fills in the defaults (see {@link RabbitMqConfig}); does not check values. */
export function withDefaults(config: RabbitMqConfig = {}): ResolvedRabbitMqConfig {
  const defaults = DEFAULT_RABBITMQ_CONFIG;
  return {
    url: config.url ?? process.env.AMQP_URL ?? defaults.url,
    exchange: config.exchange ?? defaults.exchange,
    connectTimeoutMs: config.connectTimeoutMs ?? defaults.connectTimeoutMs,
    batchSize: config.batchSize ?? defaults.batchSize,
    deliveryLimit: config.deliveryLimit ?? defaults.deliveryLimit,
    maxPayloadBytes: config.maxPayloadBytes ?? defaults.maxPayloadBytes,
    mandatory: config.mandatory ?? defaults.mandatory,
  };
}

/** Throws {@link ConfigurationError} naming the first field whose value cannot work. */
export function validate(config: ResolvedRabbitMqConfig): ResolvedRabbitMqConfig {
  if (amqpAddressOf(config.url) === undefined) {
    throw new ConfigurationError('url', redactUrl(config.url), 'an amqp:// or amqps:// URL, e.g. amqp://guest:guest@127.0.0.1:5672');
  }
  // `<exchange>.dlx` must fit a short string (255 bytes); `amq.` names are reserved by RabbitMQ.
  if (typeof config.exchange !== 'string' || config.exchange === '' || config.exchange.startsWith('amq.') || Buffer.byteLength(config.exchange) > 251) {
    throw new ConfigurationError('exchange', config.exchange, 'a non-empty name of at most 251 bytes, not starting with "amq."');
  }
  for (const field of ['connectTimeoutMs', 'batchSize', 'deliveryLimit'] as const) {
    requireInteger(field, config[field]);
  }
  if (config.batchSize > 65_535) throw new ConfigurationError('batchSize', config.batchSize, 'at most 65535 (AMQP prefetch count)');
  requireInteger('maxPayloadBytes', config.maxPayloadBytes);
  if (config.maxPayloadBytes > RABBITMQ_MAX_MESSAGE_SIZE_LIMIT) {
    throw new ConfigurationError('maxPayloadBytes', config.maxPayloadBytes, `at most ${RABBITMQ_MAX_MESSAGE_SIZE_LIMIT} (RabbitMQ's largest max_message_size)`);
  }
  requireBoolean('mandatory', config.mandatory);
  return config;
}

/** `host:port` of an AMQP URL, for error messages (never the credentials); `undefined` when it is not one. */
export function amqpAddressOf(url: string): string | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') return undefined;
    const port = parsed.port || (parsed.protocol === 'amqps:' ? '5671' : '5672');
    return `${parsed.hostname || '127.0.0.1'}:${port}`;
  } catch {
    return undefined;
  }
}

/** The URL without its password, for error messages. */
function redactUrl(url: unknown): unknown {
  if (typeof url !== 'string') return url;
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
