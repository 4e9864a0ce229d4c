import type { Middleware } from '../pipeline.js';
import type { ProcessedEvents } from '../../postgres/processed-events.js';

/**
 * Exactly-once effect: `(consumer, event id)` is in `processed_events`, inside the
 * consumer's transaction, before the handler runs. A duplicate returns `duplicate`
 * without calling the handler, so it commits nothing else. The consumer's group commit
 * records a whole batch with one statement (`message.claimed`); without it, this
 * middleware records the event itself.
 */
export function idempotency(processed: ProcessedEvents): Middleware {
  return (next) => async (message) => {
    const first = message.claimed ?? (await processed.claim(message.tx!, message.consumer, message.event!.id, message.subscription.topic.name));
    return first ? next(message) : 'duplicate';
  };
}
