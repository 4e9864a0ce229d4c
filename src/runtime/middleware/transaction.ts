import type { Middleware } from '../pipeline.js';
import type { GroupCommitter } from '../group-commit.js';

/** What a consumer transaction records for each event before its handler runs. */
export interface ClaimTag {
  readonly eventId: string;
  readonly topic: string;
}

/**
 * Runs the rest of the pipeline inside a consumer transaction, shared with other
 * events by group commit. When the committer records the batch's events in
 * `processed_events` up front, the result arrives as `message.claimed`.
 */
export function inConsumerTransaction(committer: GroupCommitter<ClaimTag, boolean>): Middleware {
  return (next) => (message) =>
    committer.run({ eventId: message.event!.id, topic: message.subscription.topic.name }, (tx, claimed) => next({ ...message, tx, claimed }));
}
