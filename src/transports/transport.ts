import type { CloudEvent } from '../core/envelope.js';

/**
 * Sends events to a broker.
 *
 * `publish` resolves only after the broker has acknowledged every event (stored it
 * as durably as that broker stores anything); the relay marks outbox rows sent only
 * then. Events of one call are appended in the order given. If it rejects, some of
 * the events may still have been stored: delivery is at-least-once, and consumers
 * absorb the duplicates. `close()` is idempotent and waits for publishes in flight.
 * `opts.metadata` travels beside every event of the call (Dapr's `metadata` map) and
 * reaches subscribers as {@link Delivery.metadata}.
 */
export interface Publisher {
  publish(topic: string, events: readonly CloudEvent[], opts?: TransportPublishOptions): Promise<void>;
  close(): Promise<void>;
}

/** Options of one `publish` call. */
export interface TransportPublishOptions {
  /** Abandons the wait for the broker's acknowledgement (events may still be stored). */
  readonly signal?: AbortSignal;
  /** Travels beside every event of the call (Dapr's `metadata` map). */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * `false` when the same events are published again on purpose (a replay, a dead letter of
   * the same event id): a broker that drops repeats of an event id within a window (NATS
   * JetStream's `Nats-Msg-Id`) must store them anyway. Default `true`: a relay's retry after a
   * crash is a repeat the broker may drop.
   */
  readonly deduplicate?: boolean;
}

/** Options of one subscription. */
export interface SubscribeOptions {
  /** Consumer group: the consuming service's name. Members of one group share the work. */
  readonly group: string;
  /** This member's name within the group: service name + instance id. */
  readonly consumer: string;
  /** Ends the iteration; deliveries not yet acknowledged stay pending for redelivery. */
  readonly signal: AbortSignal;
  /** How many messages to fetch per read; default chosen by the transport. */
  readonly batchSize?: number;
}

/**
 * Receives events for a consumer group.
 *
 * Delivery is at-least-once: a delivery that is neither acked nor nacked is
 * redelivered (to this or another member of the group) after the transport's
 * processing timeout. The iterable stops fetching while the caller does not pull,
 * which is the back-pressure. `close()` is idempotent and safe while deliveries are
 * in flight; their later `ack()` calls are ignored.
 */
export interface Subscriber {
  subscribe(topic: string, opts: SubscribeOptions): AsyncIterable<Delivery>;
  close(): Promise<void>;
}

/** One message as received, before the runtime parses it. */
export interface Delivery {
  /** The broker's id of this message (Redis stream entry id). */
  readonly id: string;
  readonly topic: string;
  /** 1 on first delivery, more when redelivered. */
  readonly attempt: number;
  /** The CloudEvent JSON text as on the wire; `undefined` when the message had no data. */
  readonly body: string | undefined;
  /** Transport metadata (Dapr's `metadata` map); empty when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Settles the message: it will not be delivered again to this group. */
  ack(): Promise<void>;
  /** Gives the message back for redelivery, after `delayMs` when given (default at once). */
  nack(opts?: { delayMs?: number }): Promise<void>;
}

/** What a transport honestly promises; the conformance suite tests against these flags. */
export interface TransportCapabilities {
  /** Members of one group share the work; each group gets every event. */
  readonly consumerGroups: boolean;
  /** Events of one partition key reach a group in publish order, even with several members. */
  readonly orderedPerKey: boolean;
  /** An event the broker acknowledged survives a restart of the broker. */
  readonly persistent: boolean;
  /** `nack()` gives the delivery back for redelivery (rather than waiting for a timeout). */
  readonly redeliversOnNack: boolean;
  /** `nack({ delayMs })` holds the redelivery back for at least `delayMs`. */
  readonly delayedRedelivery: boolean;
  /**
   * The largest event, as CloudEvent JSON in bytes, that `publish` accepts; a larger one is
   * refused with `PayloadTooLargeError` (code `PAYLOAD_TOO_LARGE`) before anything is sent.
   */
  readonly maxPayloadBytes: number;
}

/** A broker connection with both sides. */
export interface Transport {
  readonly name: string;
  readonly capabilities: TransportCapabilities;
  readonly publisher: Publisher;
  readonly subscriber: Subscriber;
  /**
   * Makes `group` exist on `topic` now, so that it keeps every event published from then on.
   * Present only on transports whose groups get nothing published before they existed
   * (RabbitMQ: a queue receives only what is routed to it once bound). Call it at deploy time,
   * before producers start, for every subscriber of every topic (`declareSubscriberGroups`);
   * `startConsumer` also calls it before it subscribes. Idempotent.
   */
  declareGroup?(topic: string, group: string): Promise<void>;
  /**
   * Events on `topic` that `group` has not yet had acknowledged: waiting to be delivered plus
   * delivered and not yet acked, as the broker counts them; undefined when the topic or the group
   * does not exist (yet). Cheap enough to call at every metrics scrape (one round trip).
   * A broker that cannot count one of the two parts says so in its transport's README (RabbitMQ
   * counts only the messages waiting in the group's queue). Rejects with `TRANSPORT_CLOSED` once
   * the subscriber side is closed. The conformance suite holds every transport to: N after N
   * events were published while the group existed and no member ran, 0 once all were acked.
   */
  lag?(topic: string, group: string): Promise<number | undefined>;
  close(): Promise<void>;
}
