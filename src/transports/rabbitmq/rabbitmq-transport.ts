import type { Channel, RecoveringChannelModel } from 'amqplib';
import { abortReason, untilAborted } from '../../core/abort.js';
import { ConfigurationError, ServerUnreachableError } from '../../core/errors.js';
import { checkBatchSize, checkGroupAndConsumer } from '../argument-checks.js';
import { backoffMs } from '../backoff.js';
import { InFlight } from '../in-flight.js';
import { OpenSubscriptions } from '../pull-iterator.js';
import type { Delivery, SubscribeOptions, Subscriber, Transport, TransportCapabilities } from '../transport.js';
import { amqpAddressOf, DEFAULT_RABBITMQ_CONFIG, validate, withDefaults, type RabbitMqConfig, type ResolvedRabbitMqConfig } from './config.js';
import { closedError, ConfirmPublisher } from './confirm-publisher.js';
import { closeChannelQuietly, ignore, openConnection, PendingDeclarations } from './connection.js';
import { pause } from '../../core/abort.js';
import { QueueSubscription, type SubscriptionHost } from './queue-subscription.js';
import { checkGroup, declareGroupTopology, queueNameOf, replyCodeOf } from './topology.js';

/**
 * What RabbitMQ promises with quorum queues: consumer groups (one queue per group, its members
 * share it), persistence (quorum queues, persistent messages, publisher confirms), redelivery
 * on nack, delayed redelivery (the delivery is held unacked for the delay, then requeued). No
 * order per key: a requeued message comes back after later ones, and members run concurrently.
 * `maxPayloadBytes` is the default (RabbitMQ 3.x `max_message_size`, 128 MiB); a transport
 * built with another `maxPayloadBytes` reports that in its own `capabilities`.
 */
export const RABBITMQ_CAPABILITIES: TransportCapabilities = Object.freeze({
  consumerGroups: true,
  orderedPerKey: false,
  persistent: true,
  redeliversOnNack: true,
  delayedRedelivery: true,
  maxPayloadBytes: DEFAULT_RABBITMQ_CONFIG.maxPayloadBytes,
});

/**
 * A {@link Transport} over RabbitMQ (AMQP 0-9-1, amqplib): one durable topic exchange, one
 * durable quorum queue per consumer group and topic, a dead-letter exchange and queue per group
 * queue (README of this folder, "Topology").
 *
 * RabbitMQ cannot replay to a queue created later: a group receives only the events published
 * after its queue was declared. {@link RabbitMqTransport.declareGroup} declares a group's queue
 * ahead of time (at deploy time, before producers start).
 */
export interface RabbitMqTransport extends Transport {
  /** The configuration in force, defaults filled in. */
  readonly config: ResolvedRabbitMqConfig;
  /**
   * Declares the queue of `group` for `topic` (and its dead-letter queue) and binds it, as
   * `subscribe` does, so the group keeps every event published from then on even before any
   * member runs. Idempotent. Waits while the connection is down, until `signal` aborts; rejects
   * with `ConfigurationError` when RabbitMQ refuses the declaration for good (e.g. the queue
   * exists with another `deliveryLimit`).
   */
  declareGroup(topic: string, group: string, opts?: { signal?: AbortSignal }): Promise<void>;
}

/**
 * Connects to RabbitMQ. Rejects with `ServerUnreachableError` naming `host:port` when it does
 * not answer within `connectTimeoutMs`, and with `ConfigurationError` naming the field for a
 * config value that cannot work. After that, a lost connection is re-established with backoff
 * (up to 2 s between tries): publishes wait for it, subscriptions re-declare and resume.
 */
export async function createRabbitMqTransport(config?: RabbitMqConfig): Promise<RabbitMqTransport> {
  const resolved = validate(withDefaults(config));
  const connection = await openConnection(resolved);
  const declarations = new PendingDeclarations();
  let open = 2;
  let connectionClosed: Promise<void> | undefined;
  const closeConnection = (): Promise<void> => (connectionClosed ??= connection.close().catch(ignore));
  const released = (): void => {
    open -= 1;
    if (open === 0) void closeConnection();
  };
  const subscriber = new RabbitMqSubscriber(connection, resolved, declarations, released);
  const publisher = new ConfirmPublisher({ config: resolved, connection, declarations, released });
  let closing: Promise<void> | undefined;
  return {
    name: 'rabbitmq',
    capabilities: Object.freeze({ ...RABBITMQ_CAPABILITIES, maxPayloadBytes: resolved.maxPayloadBytes }),
    config: resolved,
    publisher,
    subscriber,
    declareGroup: (topic, group, opts) => subscriber.declareGroup(topic, group, opts?.signal),
    lag: (topic, group) => subscriber.lag(topic, group),
    close: () => (closing ??= Promise.all([subscriber.close(), publisher.close()]).then(closeConnection)),
  };
}

/** Each subscription consumes on its own channel, so ending one requeues exactly what it held. */
class RabbitMqSubscriber implements Subscriber, SubscriptionHost {
  readonly config: ResolvedRabbitMqConfig;
  readonly #connection: RecoveringChannelModel;
  readonly #declarations: PendingDeclarations;
  readonly #released: () => void;
  readonly #subscriptions = new OpenSubscriptions<QueueSubscription>();
  readonly #inFlight = new InFlight();
  /** Aborted by close(): stops waiting for a connection. */
  readonly #stop = new AbortController();
  #closing: Promise<void> | undefined;

  constructor(connection: RecoveringChannelModel, config: ResolvedRabbitMqConfig, declarations: PendingDeclarations, released: () => void) {
    this.#connection = connection;
    this.config = config;
    this.#declarations = declarations;
    this.#released = released;
  }

  subscribe(topic: string, opts: SubscribeOptions): AsyncIterable<Delivery> {
    if (this.#closing) throw closedError('subscriber');
    checkGroup(opts.group, topic);
    checkGroupAndConsumer(opts);
    checkBatchSize(opts.batchSize, { max: 65_535, reason: 'AMQP prefetch count' });
    return this.#subscriptions.add(new QueueSubscription(this, topic, opts));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort(closedError('subscriber'));
      this.#subscriptions.endAll();
      await this.#inFlight.settled();
      this.#released();
    })();
    return this.#closing;
  }

  openChannel(signal?: AbortSignal): Promise<Channel> {
    if (this.#closing) return Promise.reject(closedError('subscriber'));
    const opening = this.#connection.createChannel().then(async (channel) => {
      // Channel errors also close the channel, which its owner handles; the event must not go unhandled.
      channel.on('error', ignore);
      channel.on('handler-error', ignore);
      // Arrived after its caller gave up (the connection came back late): nobody would close it.
      if (this.#closing || signal?.aborted) {
        await closeChannelQuietly(channel);
        throw this.#closing ? closedError('subscriber') : abortReason(signal!);
      }
      return channel;
    });
    const stopped = untilAborted(opening, this.#stop.signal);
    return signal ? untilAborted(stopped, signal) : stopped;
  }

  async declareEarly(topic: string, group: string, signal: AbortSignal): Promise<boolean> {
    return this.#declare(topic, group, signal).then(() => true, () => false);
  }

  async declareGroup(topic: string, group: string, signal?: AbortSignal): Promise<void> {
    if (this.#closing) throw closedError('subscriber');
    if (signal?.aborted) throw abortReason(signal);
    checkGroup(group, topic);
    await this.#declare(topic, group, signal);
  }

  /**
   * `Transport.lag`: the messages ready in the group's queue (`message-count` of a passive
   * `queue.declare`). AMQP does not report the unacked ones (delivered to a member, including
   * those held for a `nack({ delayMs })`); only the management API does, and it may not be
   * enabled. Runs on a channel of its own, since RabbitMQ closes the channel of a passive declare
   * that names a missing queue: that answer is undefined. Rejects with ServerUnreachableError when
   * no connection comes within `connectTimeoutMs`.
   */
  async lag(topic: string, group: string): Promise<number | undefined> {
    if (this.#closing) throw closedError('subscriber');
    checkGroup(group, topic);
    const deadline = AbortSignal.timeout(this.config.connectTimeoutMs);
    return this.track(
      (async () => {
        let channel: Channel;
        try {
          channel = await this.openChannel(deadline);
        } catch (error) {
          if (this.#closing || !deadline.aborted) throw error;
          throw new ServerUnreachableError('RabbitMQ', amqpAddressOf(this.config.url)!, { cause: error });
        }
        try {
          const { messageCount } = await channel.checkQueue(queueNameOf(group, topic));
          return messageCount;
        } catch (error) {
          if (replyCodeOf(error) === 404) return undefined; // NOT_FOUND: the group's queue does not exist
          throw error;
        } finally {
          this.#inFlight.track(closeChannelQuietly(channel)).catch(ignore);
        }
      })(),
    );
  }

  track<T>(promise: Promise<T>): Promise<T> {
    return this.#inFlight.track(promise);
  }

  /**
   * Declares on a short-lived channel, trying again while the connection is down; publishes of
   * `topic` on this transport wait for it. Stops when `signal` aborts or the subscriber closes.
   */
  #declare(topic: string, group: string, signal: AbortSignal | undefined): Promise<void> {
    const declaration = this.#inFlight.track(
      (async () => {
        for (let failures = 1; ; failures += 1) {
          let channel: Channel | undefined;
          try {
            channel = await this.openChannel(signal);
            await declareGroupTopology(channel, this.config, topic, group);
            return;
          } catch (error) {
            if (this.#closing) throw closedError('subscriber');
            if (signal?.aborted) throw abortReason(signal);
            if (error instanceof ConfigurationError) throw error;
          } finally {
            // Not awaited: the binding is in place already, publishes need not wait for the close.
            if (channel) this.#inFlight.track(closeChannelQuietly(channel)).catch(ignore);
          }
          await pause(backoffMs(failures), signal, this.#stop.signal);
        }
      })(),
    );
    this.#declarations.add(topic, declaration);
    return declaration;
  }
}
