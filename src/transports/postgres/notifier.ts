import type pg from 'pg';
import { Coalescer } from '../../core/coalescer.js';
import type { Statement } from './statements.js';

/** NOTIFY payloads must be shorter than 8000 bytes; a longer topic sends '' (wake every subscription). */
const MAX_PAYLOAD_BYTES = 7_999;

/**
 * Wakes the subscribers of topics after publishes committed: `NOTIFY <channel>, '<topic>'`.
 *
 * Sent after the publish's commit, never in it (docs/decisions.md §11: notifying transactions
 * commit one at a time), committed asynchronously (a wake-up hint is worthless after a crash;
 * subscribers also poll). Coalesced as the outbox's notifier is (src/postgres/outbox-notifier.ts,
 * which carries no payload and so cannot say which topic), by one {@link Coalescer}: at most one
 * NOTIFY statement in flight and at most one per `minIntervalMs`; topics asked for meanwhile go
 * out together in the next one. Failures are ignored.
 */
export class TopicNotifier {
  readonly #pending = new Set<string>();
  readonly #sends: Coalescer;

  constructor(pool: pg.Pool, statement: Statement, channel: string, minIntervalMs: number) {
    this.#sends = new Coalescer(async () => {
      if (this.#pending.size === 0) return;
      const topics = [...this.#pending];
      this.#pending.clear();
      await pool.query({ ...statement, values: [channel, topics] });
    }, minIntervalMs);
  }

  /** Asks for a NOTIFY of `topic` soon; returns at once. */
  notify(topic: string): void {
    this.#pending.add(Buffer.byteLength(topic) > MAX_PAYLOAD_BYTES ? '' : topic);
    this.#sends.request();
  }

  /** Sends what is pending now and resolves when nothing is in flight or scheduled. */
  settled(): Promise<void> {
    return this.#sends.settled();
  }
}
