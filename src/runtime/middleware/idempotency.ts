import type { Middleware } from '../pipeline.js';
import type { ProcessedEvents } from '../../postgres/processed-events.js';

/**
 * Records `(consumer, event id)` in `processed_events` inside the consumer's
 * transaction before the handler runs. A duplicate returns `duplicate` without
 * calling the handler, so it commits nothing else.
 */
export function idempotency(processed: ProcessedEvents): Middleware {
  return (next) => async (message) => {
    const event = message.event!;
    const first = await processed.claim(message.tx!, message.consumer, event.id, message.subscription.topic.name);
    if (!first) return 'duplicate';
    return next(message);
  };
}
