import type { Middleware, InboundMessage } from '../pipeline.js';
import type { DeadLetterReason, DeadLetterStore } from '../../postgres/dead-letter-store.js';
import type { SqlExecutor } from '../../postgres/sql.js';
import type { Publisher } from '../../transports/transport.js';
import { DLQ_ATTRIBUTES, createEnvelope, deadLetterTopic, type CloudEvent } from '../../core/envelope.js';
import { MalformedEnvelopeError, SchemaValidationError, SyncError, errorClassOf, isPermanent } from '../../core/errors.js';

/** Where dead letters go: the store (row with context) and the `<topic>.dlq` stream. */
export interface DeadLetterTargets {
  readonly store: DeadLetterStore;
  readonly db: SqlExecutor;
  readonly publisher?: Publisher;
  readonly onDeadLettered?: (message: InboundMessage, error: unknown) => void;
}

/** Why an error dead-letters an event, for `dead_letters.reason` and `dlqreason`. */
export function deadLetterReason(error: unknown): DeadLetterReason {
  if (error instanceof MalformedEnvelopeError) return 'malformed';
  if (error instanceof SchemaValidationError) return 'schema_invalid';
  if (isPermanent(error)) return 'permanent';
  return 'retries_exhausted';
}

/**
 * The outermost handling step: an error that survives retry (or is permanent) is
 * recorded in `dead_letters` with its context and the original CloudEvent is
 * republished on `<topic>.dlq` with the `dlq*` attributes; the outcome is then
 * `dead_lettered` and the runtime acks, so later events of the entity go on.
 * When the consumer is closing, the error is rethrown instead (the delivery stays
 * pending and is redelivered). If recording itself fails, that error is thrown:
 * nothing is acked and nothing is lost.
 */
export function deadLetter(targets: DeadLetterTargets): Middleware {
  return (next) => async (message) => {
    try {
      return await next(message);
    } catch (error) {
      if (message.signal.aborted) throw error;
      const now = Date.now();
      const failures = message.failures;
      const attempts = Math.max(failures.attempts, 1);
      const firstFailedAt = new Date(failures.firstFailedAt ?? now);
      const lastFailedAt = new Date(failures.lastFailedAt ?? now);
      const reason = deadLetterReason(error);
      const topic = message.subscription.topic.name;
      const event = message.event;
      const errorMessage = error instanceof Error ? error.message : String(error);
      await targets.store.record(targets.db, {
        consumer: message.consumer,
        topic,
        eventId: event?.id ?? null,
        partitionKey: event?.partitionkey ?? null,
        envelope: event ?? null,
        rawBody: event ? null : (message.delivery.body ?? null),
        reason,
        errorClass: errorClassOf(error),
        errorCode: error instanceof SyncError ? error.code : null,
        errorMessage,
        attempts,
        firstFailedAt,
        lastFailedAt,
      });
      if (targets.publisher) {
        const original: CloudEvent = event ?? createEnvelope({
          topic, version: 1, source: message.consumer, data: { body: message.delivery.body ?? null, metadata: message.delivery.metadata },
        });
        const letter: CloudEvent = {
          ...original,
          [DLQ_ATTRIBUTES.reason]: reason,
          [DLQ_ATTRIBUTES.error]: `${errorClassOf(error)}: ${errorMessage}`.slice(0, 2_000),
          [DLQ_ATTRIBUTES.attempts]: attempts,
          [DLQ_ATTRIBUTES.consumer]: message.consumer,
          [DLQ_ATTRIBUTES.firstFailed]: firstFailedAt.toISOString(),
          [DLQ_ATTRIBUTES.lastFailed]: lastFailedAt.toISOString(),
        };
        await targets.publisher.publish(deadLetterTopic(topic), [letter], { deduplicate: false }); // same event id as the original
      }
      targets.onDeadLettered?.(message, error);
      return 'dead_lettered';
    }
  };
}
