import { untilAborted } from '../core/abort.js';
import type { CloudEvent } from '../core/envelope.js';
import type { Publisher } from '../transports/transport.js';
import type { RelayHooks } from './relay-config.js';
import { pause } from '../core/abort.js';

/** What {@link publishBatch} needs of an outbox row. */
export interface PublishableRow {
  /** `outbox.id`, as text; the last row's id is passed to `afterPublish`. */
  readonly id: string;
  readonly topic: string;
  readonly envelope: CloudEvent;
}

/** Options of {@link publishBatch}. */
export interface PublishBatchOptions {
  readonly publisher: Publisher;
  readonly hooks: RelayHooks;
  /** Abandons the batch when it aborts. */
  readonly signal: AbortSignal;
  /** Receives each failed attempt. */
  readonly report: (error: unknown) => void;
  /** Runs after each backoff, before the next attempt (the polling relay heartbeats there); a throw ends the call. */
  readonly beforeRetry?: () => Promise<void>;
  /** Receives each topic's events the broker acknowledged (the relay's metrics count them). */
  readonly onPublished?: (topic: string, count: number) => void;
}

const PUBLISH_BACKOFF = { initialMs: 100, maxMs: 5_000 };

/**
 * Publishes `rows` grouped by topic (each topic's events in the given order, topics
 * concurrently), retrying the topics that failed with backoff (100 ms, doubling up to 5 s)
 * until the broker acknowledged all, then awaits `hooks.afterPublish` (a throw there counts
 * as a failed attempt). Resolves true when done, false when `signal` aborted first (the
 * batch is abandoned: it was not acknowledged as a whole).
 */
export async function publishBatch(rows: readonly PublishableRow[], options: PublishBatchOptions): Promise<boolean> {
  const { publisher, hooks, signal } = options;
  const pending = new Map<string, CloudEvent[]>();
  for (const row of rows) {
    const events = pending.get(row.topic);
    if (events) events.push(row.envelope);
    else pending.set(row.topic, [row.envelope]);
  }
  const last = rows[rows.length - 1]!;
  let backoff = PUBLISH_BACKOFF.initialMs;
  for (;;) {
    try {
      if (pending.size > 0) {
        const topics = [...pending];
        const outcomes = await untilAborted(
          Promise.allSettled(topics.map(([topic, events]) => publisher.publish(topic, events, { signal }))),
          signal,
        );
        outcomes.forEach((outcome, i) => {
          if (outcome.status !== 'fulfilled') return;
          const [topic, events] = topics[i]!;
          pending.delete(topic);
          options.onPublished?.(topic, events.length);
        });
        const failure = outcomes.find((o) => o.status === 'rejected');
        if (failure) throw failure.reason;
      }
      if (hooks.afterPublish) await untilAborted(Promise.resolve(hooks.afterPublish({ count: rows.length, lastId: last.id })), signal);
      return true;
    } catch (error) {
      if (signal.aborted) return false;
      options.report(error);
      await pause(backoff, signal);
      if (signal.aborted) return false;
      backoff = Math.min(backoff * 2, PUBLISH_BACKOFF.maxMs);
      await options.beforeRetry?.();
    }
  }
}
