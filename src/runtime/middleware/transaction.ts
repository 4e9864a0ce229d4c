import type { Batchable, GroupCommitter } from '../group-commit.js';
import type { InboundMessage, Middleware, Outcome } from '../pipeline.js';

/** What a consumer transaction records for each event before its handler runs. */
export interface ClaimTag {
  readonly eventId: string;
  readonly topic: string;
}

/**
 * Runs the rest of the pipeline inside a consumer transaction, shared with other
 * events by group commit. When the committer records the batch's events in
 * `processed_events` up front, the result arrives as `message.claimed`.
 *
 * For a subscription with a batch handler (`onBatch`), first attempts of its events in
 * one transaction go to the handler together; a duplicate (claimed false) is not handed
 * over. Should that call fail, the committer runs each event through the rest of the
 * pipeline alone.
 */
export function inConsumerTransaction(committer: GroupCommitter<ClaimTag, boolean>): Middleware {
  return (next) => (message) =>
    committer.run(
      { eventId: message.event!.id, topic: message.subscription.topic.name },
      (tx, claimed) => next({ ...message, tx, claimed }),
      message.subscription.handleBatch && message.attempt === 1 ? batchOf(message) : undefined,
    );
}

function batchOf(message: InboundMessage): Batchable<boolean> {
  const { subscription, consumer } = message;
  return {
    group: subscription,
    item: message,
    run: async (tx, units) => {
      // Without the batch's processed_events claim, go solo: the idempotency middleware claims each event.
      if (units.some(({ prepared }) => prepared === undefined)) throw new Error('batch handlers need the committer to claim events');
      const outcomes: Outcome[] = units.map(({ prepared }) => (prepared === false ? 'duplicate' : 'applied'));
      const fresh = units.flatMap(({ prepared, item }, i) => (prepared === false ? [] : [{ i, event: (item as InboundMessage).event! }]));
      if (fresh.length === 0) return outcomes;
      const results = await subscription.handleBatch!({ events: fresh.map((f) => f.event), tx, topic: subscription.topic, consumer });
      fresh.forEach((f, k) => {
        if (results?.[k] === 'stale') outcomes[f.i] = 'stale';
      });
      return outcomes;
    },
  };
}
