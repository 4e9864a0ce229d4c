import type { Topic } from '../core/contracts.js';
import { createEnvelope, type CloudEvent } from '../core/envelope.js';
import { PublisherForbiddenError } from '../core/errors.js';
import { newEventId } from '../core/ids.js';
import { endSendSpans, startSendSpan, type SendTrace } from '../observability/tracing.js';
import type { SqlExecutor } from './sql.js';
import { outboxChannel, quoteIdent } from './sql.js';

/** Where and as whom events are written; see {@link OutboxWriter}. */
export interface OutboxWriterConfig {
  /** The publishing service's name: the envelope `source`, checked against the topic's publishers. */
  readonly service: string;
  /** The schema holding `outbox`; default: the service name. */
  readonly schema?: string;
  /**
   * Send `NOTIFY` inside the caller's transaction so the relay wakes at commit. Default
   * false: PostgreSQL serializes the commits of notifying transactions (see
   * {@link OutboxNotifier}); the producer notifies after commit instead, and the relay polls.
   */
  readonly notify?: boolean;
}

/** Per-event options of {@link OutboxWriter.publish}. */
export interface PublishOptions {
  /** The owner's version of the entity after this change (read models drop older ones). */
  readonly entityVersion?: number;
  /** Overrides the topic's partition key function. */
  readonly partitionKey?: string;
  /** Entity id; default: the partition key. */
  readonly subject?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  /**
   * W3C trace context the event carries. Default: that of the event's `send <topic>` span when
   * tracing is on (docs/observability.md), else none.
   */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** A caller-chosen event id (UUIDv7 otherwise). */
  readonly id?: string;
}

/**
 * Writes events into the outbox inside the caller's transaction, so the event
 * commits or rolls back with the data it describes. Validates the data against the
 * topic's schema first: an invalid event throws SchemaValidationError and nothing
 * is written.
 */
export class OutboxWriter {
  readonly service: string;
  readonly schema: string;
  readonly #table: string;
  readonly #notify: string | undefined;

  constructor(config: OutboxWriterConfig) {
    this.service = config.service;
    this.schema = config.schema ?? config.service;
    this.#table = `${quoteIdent(this.schema)}.outbox`;
    this.#notify = config.notify === true ? outboxChannel(this.schema) : undefined;
  }

  /** Validates and writes one event in `tx`; returns the envelope as it will be published. */
  async publish<T>(tx: SqlExecutor, topic: Topic<T>, data: T, options: PublishOptions = {}): Promise<CloudEvent<T>> {
    const [event] = await this.publishMany(tx, topic, [{ data, options }]);
    return event!;
  }

  /**
   * Validates every event first, then writes them all with one statement. With tracing on,
   * each event gets a `send <topic>` span, ended when the insert returns; its context becomes
   * the event's `traceparent` (outbox column and envelope) unless the caller passed one.
   */
  async publishMany<T>(tx: SqlExecutor, topic: Topic<T>, items: readonly { data: T; options?: PublishOptions }[]): Promise<CloudEvent<T>[]> {
    if (!topic.publishers.includes(this.service)) throw new PublisherForbiddenError(topic.name, this.service, topic.publishers);
    for (const { data } of items) topic.validate(data);
    const sends: SendTrace[] = [];
    const events = items.map(({ data, options = {} }) => {
      const partitionKey = options.partitionKey ?? topic.partitionKey?.(data);
      const id = options.id ?? newEventId();
      const subject = options.subject ?? partitionKey;
      const send = startSendSpan(topic.name, { id, correlationId: options.correlationId ?? id, subject }, options);
      sends.push(send);
      return createEnvelope({
        topic: topic.name,
        version: topic.version,
        source: this.service,
        data,
        id,
        subject,
        partitionKey,
        entityVersion: options.entityVersion ?? topic.entityVersion?.(data),
        correlationId: options.correlationId,
        causationId: options.causationId,
        traceparent: send.traceparent,
        tracestate: send.tracestate,
      });
    });
    if (events.length === 0) return events;
    try {
      if (events.length === 1) {
        // The common case, one event per owner transaction: a single-row insert, no array encoding.
        const [e] = events as [CloudEvent<T>];
        await tx.query(
          `INSERT INTO ${this.#table} (event_id, topic, partition_key, envelope, traceparent) VALUES ($1, $2, $3, $4, $5)`,
          [e.id, topic.name, e.partitionkey ?? null, JSON.stringify(e), e.traceparent ?? null],
        );
      } else await tx.query(
        `INSERT INTO ${this.#table} (event_id, topic, partition_key, envelope, traceparent)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[])`,
        [
          events.map((e) => e.id),
          events.map(() => topic.name),
          events.map((e) => e.partitionkey ?? null),
          events.map((e) => JSON.stringify(e)),
          events.map((e) => e.traceparent ?? null),
        ],
      );
    } catch (error) {
      endSendSpans(sends, error);
      throw error;
    }
    endSendSpans(sends);
    if (this.#notify) await tx.query('SELECT pg_notify($1, $2)', [this.#notify, '']);
    return events;
  }
}
