import { untilAborted } from '../../core/abort.js';
import { Redis } from 'ioredis';
import type { CloudEvent } from '../../core/envelope.js';
import { ServerUnreachableError, SyncError } from '../../core/errors.js';
import { checkBatchSize, checkGroupAndConsumer } from '../argument-checks.js';
import { connectTimeoutSignal } from '../connect-timeout.js';
import { InFlight } from '../in-flight.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, encodeEvents } from '../payload.js';
import { OpenSubscriptions } from '../pull-iterator.js';
import type { Delivery, Publisher, SubscribeOptions, Subscriber, Transport, TransportCapabilities, TransportPublishOptions } from '../transport.js';
import { redisAddressOf, validate, withDefaults, type RedisStreamsConfig, type ResolvedRedisStreamsConfig } from './config.js';
import { readGroupLag } from './group-lag.js';
import { StreamSubscription, type SubscriptionHost } from './stream-subscription.js';

/**
 * What Redis Streams promises: consumer groups, persistence as configured on the Redis
 * server (AOF/RDB), redelivery on nack. Members of a group share the work, so there is
 * no order per key across members; a single member gets publish order on first delivery.
 */
export const REDIS_STREAMS_CAPABILITIES: TransportCapabilities = Object.freeze({
  consumerGroups: true,
  orderedPerKey: false,
  persistent: true,
  redeliversOnNack: true,
  delayedRedelivery: true,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
});

/**
 * A {@link Transport} over Redis Streams, wire-compatible with Dapr's `pubsub.redis`
 * component (docs/transports.md): one stream per topic, entries `data` (CloudEvent JSON)
 * and `metadata` (JSON map), one consumer group per consuming service.
 */
export interface RedisStreamsTransport extends Transport {
  /** The configuration in force, defaults filled in. */
  readonly config: ResolvedRedisStreamsConfig;
}

/**
 * Connects to Redis and checks it answers (PING). Rejects with
 * {@link ServerUnreachableError} naming `host:port` when it does not within
 * `connectTimeoutMs`, and with `ConfigurationError` for a config value that cannot work.
 * After this check, lost connections are re-established with backoff.
 */
export async function createRedisStreamsTransport(config?: RedisStreamsConfig): Promise<RedisStreamsTransport> {
  const resolved = validate(withDefaults(config));
  const client = await connect(resolved);
  const publisher = new RedisStreamsPublisher(client, resolved);
  const subscriber = new RedisStreamsSubscriber(client, resolved);
  let closing: Promise<void> | undefined;
  return {
    name: 'redis-streams',
    capabilities: REDIS_STREAMS_CAPABILITIES,
    config: resolved,
    publisher,
    subscriber,
    lag: (topic, group) => subscriber.lag(topic, group),
    close: () => (closing ??= Promise.all([subscriber.close(), publisher.close()]).then(() => undefined)),
  };
}

const ignore = (): void => undefined;

async function connect(config: ResolvedRedisStreamsConfig): Promise<Redis> {
  const address = redisAddressOf(config.url)!;
  let checked = false;
  const client = new Redis(config.url, {
    lazyConnect: true,
    connectTimeout: config.connectTimeoutMs,
    // Concurrent commands (publishes of many topics, acks) share one write and one round trip.
    enableAutoPipelining: true,
    // No reconnect loop during the start-up check; afterwards, back off up to 2 s.
    retryStrategy: (times) => (checked ? Math.min(times * 100, 2_000) : null),
    // A socket that never connected need not be waited for on disconnect.
    disconnectTimeout: 100,
  });
  // Connection errors also reject the commands concerned; the event must not go unhandled.
  // Before the check passes, keep the socket's own error (ECONNREFUSED…) to report it.
  let socketError: Error | undefined;
  client.on('error', (error: Error) => { if (!checked) socketError = error; });
  try {
    await untilAborted(client.connect().then(() => client.ping()), connectTimeoutSignal(config.connectTimeoutMs));
  } catch (cause) {
    client.disconnect();
    throw new ServerUnreachableError('Redis', address, { cause: socketError ?? cause });
  }
  checked = true;
  return client;
}

function closedError(side: string): SyncError {
  return new SyncError('TRANSPORT_CLOSED', `the redis-streams ${side} is closed`);
}

/** Closes a connection gracefully (replies to earlier commands still arrive), or at once when it is down. */
async function closeConnection(connection: Redis): Promise<void> {
  if (connection.status === 'ready') await connection.quit().catch(ignore);
  connection.disconnect();
}

/** `XADD <topic> [MAXLEN ~ N] * data <CloudEvent JSON> [metadata <JSON map>]`, auto-pipelined. */
class RedisStreamsPublisher implements Publisher {
  readonly #client: Redis;
  readonly #config: ResolvedRedisStreamsConfig;
  readonly #trim: readonly (string | number)[];
  readonly #inFlight = new InFlight();
  #closing: Promise<void> | undefined;

  constructor(client: Redis, config: ResolvedRedisStreamsConfig) {
    this.#client = client;
    this.#config = config;
    this.#trim = config.maxLenApprox === undefined ? [] : ['MAXLEN', '~', config.maxLenApprox];
  }

  publish(topic: string, events: readonly CloudEvent[], opts?: TransportPublishOptions): Promise<void> {
    if (this.#closing) return Promise.reject(closedError('publisher'));
    if (opts?.signal?.aborted) return Promise.reject(opts.signal.reason as Error);
    if (events.length === 0) return Promise.resolve();
    let bodies: string[];
    try {
      bodies = encodeEvents('redis-streams', topic, events, REDIS_STREAMS_CAPABILITIES.maxPayloadBytes, (event) => this.#body(topic, event));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const metadata = opts?.metadata === undefined ? [] : ['metadata', JSON.stringify(opts.metadata)];
    // Issued in one tick: auto-pipelining sends them in one write, in this order.
    const replies = bodies.map((body) => this.#client.call('XADD', [topic, ...this.#trim, '*', 'data', body, ...metadata]));
    const stored = this.#inFlight.track(Promise.all(replies).then(ignore));
    return opts?.signal ? untilAborted(stored, opts.signal) : stored;
  }

  close(): Promise<void> {
    this.#closing ??= this.#inFlight.settled().then(() => closeConnection(this.#client));
    return this.#closing;
  }

  /** The CloudEvent JSON; `topic` and `pubsubname`, which Dapr subscribers read, are filled in when missing. */
  #body(topic: string, event: CloudEvent): string {
    if (event.topic !== undefined && event.pubsubname !== undefined) return JSON.stringify(event);
    return JSON.stringify({ ...event, topic: event.topic ?? topic, pubsubname: event.pubsubname ?? this.#config.pubsubName });
  }
}

/**
 * Subscriptions share one auto-pipelined connection for XACK, XCLAIM and XAUTOCLAIM;
 * each opens its own connection for the blocking XREADGROUP.
 */
class RedisStreamsSubscriber implements Subscriber, SubscriptionHost {
  readonly config: ResolvedRedisStreamsConfig;
  readonly #base: Redis;
  readonly #subscriptions = new OpenSubscriptions<StreamSubscription>();
  readonly #inFlight = new InFlight();
  #commands: Redis | undefined;
  #closing: Promise<void> | undefined;

  constructor(base: Redis, config: ResolvedRedisStreamsConfig) {
    this.#base = base;
    this.config = config;
  }

  get commands(): Redis {
    if (!this.#commands) {
      this.#commands = this.#base.duplicate();
      this.#commands.on('error', ignore);
    }
    return this.#commands;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  track<T>(promise: Promise<T>): Promise<T> {
    return this.#inFlight.track(promise);
  }

  subscribe(topic: string, opts: SubscribeOptions): AsyncIterable<Delivery> {
    if (this.#closing) throw closedError('subscriber');
    checkGroupAndConsumer(opts);
    checkBatchSize(opts.batchSize);
    return this.#subscriptions.add(new StreamSubscription(this, topic, opts));
  }

  /** `Transport.lag` over the shared command connection (see {@link readGroupLag}). */
  lag(topic: string, group: string): Promise<number | undefined> {
    if (this.#closing) return Promise.reject(closedError('subscriber'));
    return this.track(readGroupLag(this.commands, topic, group));
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#subscriptions.endAll();
    await this.#inFlight.settled();
    if (this.#commands) await closeConnection(this.#commands);
  }
}
