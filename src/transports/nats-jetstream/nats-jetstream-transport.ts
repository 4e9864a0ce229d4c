import { errors } from '@nats-io/transport-node';
import type { ConsumerInfo, JetStreamClient } from '@nats-io/jetstream';
import { untilAborted } from '../../core/abort.js';
import type { CloudEvent } from '../../core/envelope.js';
import { PayloadTooLargeError, ServerUnreachableError, SyncError } from '../../core/errors.js';
import { checkBatchSize, checkGroupAndConsumer } from '../argument-checks.js';
import { InFlight } from '../in-flight.js';
import { encodeEvents } from '../payload.js';
import { OpenSubscriptions } from '../pull-iterator.js';
import type { Delivery, Publisher, SubscribeOptions, Subscriber, Transport, TransportCapabilities, TransportPublishOptions } from '../transport.js';
import { validate, withDefaults, type NatsJetStreamConfig, type ResolvedNatsJetStreamConfig } from './config.js';
import { headerBytes, messageHeaders, metadataHeaderValue } from './message-headers.js';
import { checkTopic } from './naming.js';
import { PullSubscription, type SubscriptionHost } from './pull-subscription.js';
import { ConnectionLostError, NatsSession } from './nats-session.js';
import { StreamTopology } from './stream-topology.js';

/** NATS's default `max_payload`: 1 MiB. */
const NATS_DEFAULT_MAX_PAYLOAD = 1_048_576;

/**
 * What NATS JetStream promises: durable consumers per group, file-stored streams, redelivery
 * on nack, with a delay (`nak(delay)`). Members of a group pull from one consumer and share
 * the work, and a redelivered message comes after later ones, so there is no order per key
 * across members. `maxPayloadBytes` here is NATS's default `max_payload` (1 MiB); a transport
 * reports its server's own value in {@link Transport.capabilities}.
 */
export const NATS_JETSTREAM_CAPABILITIES: TransportCapabilities = Object.freeze({
  consumerGroups: true,
  orderedPerKey: false,
  persistent: true,
  redeliversOnNack: true,
  delayedRedelivery: true,
  maxPayloadBytes: NATS_DEFAULT_MAX_PAYLOAD,
});

/**
 * A {@link Transport} over NATS JetStream (this folder's README): subject = topic, one stream
 * per subject family, one durable pull consumer per group and topic, explicit acks, the
 * CloudEvent id as `Nats-Msg-Id` for de-duplication.
 */
export interface NatsJetStreamTransport extends Transport {
  /** The configuration in force, defaults filled in. */
  readonly config: ResolvedNatsJetStreamConfig;
}

/**
 * Connects to NATS and checks that JetStream answers. Rejects with
 * {@link ServerUnreachableError} naming `host:port` when the server does not answer within
 * `connectTimeoutMs`, with `ConfigurationError` (field `url`) when it runs without JetStream,
 * and with `ConfigurationError` for a config value that cannot work. After this check, a lost
 * connection is re-established forever, with backoff up to 2 s between tries.
 */
export async function createNatsJetStreamTransport(config?: NatsJetStreamConfig): Promise<NatsJetStreamTransport> {
  const resolved = validate(withDefaults(config));
  const session = await NatsSession.open(resolved);
  const maxPayloadBytes = session.connection.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD;
  const capabilities = maxPayloadBytes === NATS_JETSTREAM_CAPABILITIES.maxPayloadBytes ? NATS_JETSTREAM_CAPABILITIES : Object.freeze({ ...NATS_JETSTREAM_CAPABILITIES, maxPayloadBytes });
  const topology = new StreamTopology(session.jsm, resolved);
  const publisher = new NatsJetStreamPublisher(session, topology, resolved, maxPayloadBytes);
  const subscriber = new NatsJetStreamSubscriber(session, topology, resolved);
  let closing: Promise<void> | undefined;
  return {
    name: 'nats-jetstream',
    capabilities,
    config: resolved,
    publisher,
    subscriber,
    lag: (topic, group) => subscriber.lag(topic, group),
    close: () => (closing ??= Promise.all([subscriber.close(), publisher.close()]).then(() => session.closed)),
  };
}

const ignore = (): void => undefined;
/** Sends of one publish call: the first, plus resends after a dropped connection or a vanished stream. */
const MAX_SENDS = 3;

function closedError(side: string): SyncError {
  return new SyncError('TRANSPORT_CLOSED', `the nats-jetstream ${side} is closed`);
}

/** True when nothing answered a publish: no stream captures the subject (any more), or JetStream is down. */
function isNoResponders(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'JetStreamNotEnabled') return true;
  return error instanceof errors.RequestError && error.isNoResponders();
}

interface OutgoingMessage {
  /** The `Nats-Msg-Id`: the event id, or `undefined` when the call asked not to de-duplicate. */
  readonly id: string | undefined;
  readonly body: string;
}

/** `js.publish(<topic>, <CloudEvent JSON>, { msgID: event.id, headers })`, one PubAck awaited per event. */
class NatsJetStreamPublisher implements Publisher {
  readonly #session: NatsSession;
  readonly #topology: StreamTopology;
  readonly #config: ResolvedNatsJetStreamConfig;
  readonly #maxPayloadBytes: number;
  readonly #inFlight = new InFlight();
  #closing: Promise<void> | undefined;

  constructor(session: NatsSession, topology: StreamTopology, config: ResolvedNatsJetStreamConfig, maxPayloadBytes: number) {
    this.#session = session;
    this.#topology = topology;
    this.#config = config;
    this.#maxPayloadBytes = maxPayloadBytes;
  }

  publish(topic: string, events: readonly CloudEvent[], opts?: TransportPublishOptions): Promise<void> {
    if (this.#closing) return Promise.reject(closedError('publisher'));
    if (opts?.signal?.aborted) return Promise.reject(opts.signal.reason as Error);
    if (events.length === 0) return Promise.resolve();
    let messages: OutgoingMessage[];
    const metadata = metadataHeaderValue(opts?.metadata);
    try {
      checkTopic(topic);
      messages = this.#encode(topic, events, metadata);
      if (opts?.deduplicate === false) messages = messages.map((message) => ({ ...message, id: undefined }));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const stored = this.#inFlight.track(this.#send(topic, messages, metadata));
    return opts?.signal ? untilAborted(stored, opts.signal) : stored;
  }

  close(): Promise<void> {
    this.#closing ??= this.#inFlight.settled().then(() => this.#session.release());
    return this.#closing;
  }

  /**
   * The bodies, checked whole before anything is sent: the CloudEvent JSON against
   * `max_payload` (`encodeEvents`), then body plus headers, which the server counts too.
   */
  #encode(topic: string, events: readonly CloudEvent[], metadata: string | undefined): OutgoingMessage[] {
    const max = this.#maxPayloadBytes;
    const bodies = encodeEvents('nats-jetstream', topic, events, max, (event) => this.#body(topic, event));
    return bodies.map((body, i) => {
      const { id } = events[i]!;
      const headerSize = headerBytes(id, metadata);
      if (body.length * 3 + headerSize > max) {
        const bytes = Buffer.byteLength(body) + headerSize;
        if (bytes > max) throw new PayloadTooLargeError('nats-jetstream', topic, id, bytes, max);
      }
      return { id, body };
    });
  }

  /**
   * Sends once connected. When the connection drops before every PubAck arrived, or the stream
   * turned out to be gone (the broker lost its data), sends the whole call again, up to
   * {@link MAX_SENDS} times: events already stored are dropped by their `Nats-Msg-Id`.
   */
  async #send(topic: string, messages: readonly OutgoingMessage[], metadata: string | undefined): Promise<void> {
    const timeout = this.#config.requestTimeoutMs;
    for (let send = 1; ; send += 1) {
      await this.#session.whenConnected(timeout);
      try {
        await this.#topology.streamFor(topic);
        await this.#append(topic, messages, metadata);
        return;
      } catch (error) {
        const lost = error instanceof ConnectionLostError;
        if (lost && send >= MAX_SENDS) throw new ServerUnreachableError('NATS', this.#session.address, { cause: error });
        if (!lost && !isNoResponders(error)) throw error;
        if (send >= MAX_SENDS) throw error;
        if (!lost) this.#topology.forget(topic);
      }
    }
  }

  /**
   * Issues every publish in one tick: each writes its message to the connection before
   * returning, so the server receives, and the stream appends, them in this order. Resolves
   * once every PubAck arrived; rejects with the first failure after all have settled, or with
   * {@link ConnectionLostError} as soon as the connection drops (the client discards what it
   * had not written yet, so waiting for those acks would only run into the timeout).
   */
  async #append(topic: string, messages: readonly OutgoingMessage[], metadata: string | undefined): Promise<void> {
    const { js } = this.#session;
    const timeout = this.#config.requestTimeoutMs;
    const dropped = this.#session.nextDisconnect().then(() => 'dropped' as const);
    const acks = messages.map(({ id, body }) => js.publish(topic, body, { msgID: id, timeout, headers: messageHeaders(metadata) }));
    const results = await Promise.race([Promise.allSettled(acks), dropped]);
    if (results === 'dropped') {
      for (const ack of acks) ack.catch(ignore);
      throw new ConnectionLostError();
    }
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** The CloudEvent JSON; `topic` and `pubsubname`, which Dapr subscribers read, are filled in when missing. */
  #body(topic: string, event: CloudEvent): string {
    if (event.topic !== undefined && event.pubsubname !== undefined) return JSON.stringify(event);
    return JSON.stringify({ ...event, topic: event.topic ?? topic, pubsubname: event.pubsubname ?? this.#config.pubsubName });
  }
}

/** Subscriptions pull over the shared connection, each from its group's durable consumer. */
class NatsJetStreamSubscriber implements Subscriber, SubscriptionHost {
  readonly config: ResolvedNatsJetStreamConfig;
  readonly #session: NatsSession;
  readonly #topology: StreamTopology;
  readonly #subscriptions = new OpenSubscriptions<PullSubscription>();
  #closing: Promise<void> | undefined;

  constructor(session: NatsSession, topology: StreamTopology, config: ResolvedNatsJetStreamConfig) {
    this.#session = session;
    this.#topology = topology;
    this.config = config;
  }

  get js(): JetStreamClient {
    return this.#session.js;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  async consumerFor(topic: string, group: string): Promise<ConsumerInfo> {
    await this.#session.whenConnected(this.config.requestTimeoutMs);
    return this.#topology.consumerFor(topic, group);
  }

  /**
   * `Transport.lag`: the group's durable consumer's `num_pending` (matching messages not yet
   * delivered) plus `num_ack_pending` (delivered, not acked; nacked ones waiting for redelivery
   * included), from one consumer-info request. Undefined when the consumer or the stream is missing.
   */
  async lag(topic: string, group: string): Promise<number | undefined> {
    if (this.#closing) throw closedError('subscriber');
    checkTopic(topic);
    await this.#session.whenConnected(this.config.requestTimeoutMs);
    const info = await this.#topology.existingConsumer(topic, group);
    return info === undefined ? undefined : info.num_pending + info.num_ack_pending;
  }

  subscribe(topic: string, opts: SubscribeOptions): AsyncIterable<Delivery> {
    if (this.#closing) throw closedError('subscriber');
    checkTopic(topic);
    checkGroupAndConsumer(opts);
    checkBatchSize(opts.batchSize);
    return this.#subscriptions.add(new PullSubscription(this, topic, opts));
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Nothing to wait for: acks are fire-and-forget, and the session flushes them before closing.
    this.#subscriptions.endAll();
    await this.#session.release();
  }
}
