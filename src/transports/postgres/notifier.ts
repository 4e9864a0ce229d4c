import type pg from 'pg';
import type { Statement } from './statements.js';

/** NOTIFY payloads must be shorter than 8000 bytes; a longer topic sends '' (wake every subscription). */
const MAX_PAYLOAD_BYTES = 7_999;

/**
 * Wakes the subscribers of topics after publishes committed: `NOTIFY <channel>, '<topic>'`.
 *
 * Sent after the publish's commit, never in it (docs/decisions.md §11: notifying transactions
 * commit one at a time), committed asynchronously (a wake-up hint is worthless after a crash;
 * subscribers also poll). Coalesced like the outbox's notifier (src/postgres/outbox-notifier.ts,
 * which carries no payload and so cannot say which topic): at most one NOTIFY statement in
 * flight and at most one per `minIntervalMs`; topics asked for meanwhile go out together in the
 * next one. Failures are ignored.
 */
export class TopicNotifier {
  readonly #pool: pg.Pool;
  readonly #statement: Statement;
  readonly #channel: string;
  readonly #minIntervalMs: number;
  readonly #pending = new Set<string>();
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastSentAt = -Infinity;

  constructor(pool: pg.Pool, statement: Statement, channel: string, minIntervalMs: number) {
    this.#pool = pool;
    this.#statement = statement;
    this.#channel = channel;
    this.#minIntervalMs = minIntervalMs;
  }

  /** Asks for a NOTIFY of `topic` soon; returns at once. */
  notify(topic: string): void {
    this.#pending.add(Buffer.byteLength(topic) > MAX_PAYLOAD_BYTES ? '' : topic);
    if (this.#timer || this.#inFlight) {
      this.#timer ??= setTimeout(() => this.#send(), this.#minIntervalMs);
      return;
    }
    const wait = this.#lastSentAt + this.#minIntervalMs - performance.now();
    if (wait > 0) this.#timer = setTimeout(() => this.#send(), wait);
    else this.#send();
  }

  /** Sends what is pending now and resolves when nothing is in flight or scheduled. */
  async settled(): Promise<void> {
    while (this.#inFlight || this.#timer) {
      if (this.#timer) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#send();
      }
      await this.#inFlight;
    }
  }

  #send(): void {
    this.#timer = undefined;
    if (this.#inFlight) {
      this.#timer = setTimeout(() => this.#send(), this.#minIntervalMs);
      return;
    }
    if (this.#pending.size === 0) return;
    const topics = [...this.#pending];
    this.#pending.clear();
    this.#lastSentAt = performance.now();
    this.#inFlight = this.#pool
      .query({ ...this.#statement, values: [this.#channel, topics] })
      .then(() => undefined, () => undefined)
      .finally(() => {
        this.#inFlight = undefined;
      });
  }
}
