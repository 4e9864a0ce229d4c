import type { SqlExecutor } from './sql.js';
import { outboxChannel, quoteIdent } from './sql.js';

/**
 * Wakes the relay of one outbox after its owner's transactions committed.
 *
 * Why not NOTIFY inside the owner's transaction: PostgreSQL commits notifying
 * transactions one at a time (a database-wide lock held across the commit's WAL
 * flush), which capped owner commits near 640/s on a 2-core machine against 3,200/s
 * without. Sent on its own after the commit, the NOTIFY still takes a transaction id,
 * so its commit would flush WAL too and compete with every owner's commit; it is sent
 * with `synchronous_commit = off` (a wake-up hint is worthless after a crash anyway),
 * as one round trip. Calls are coalesced: at most one NOTIFY is in flight per
 * notifier and at most one per `minIntervalMs`; calls made meanwhile produce one more.
 * Failures are ignored; the relay's poll picks the rows up anyway.
 */
export class OutboxNotifier {
  readonly #db: SqlExecutor;
  readonly #statement: string;
  readonly #minIntervalMs: number;
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastSentAt = -Infinity;

  /**
   * `minIntervalMs` (default 10) spaces NOTIFYs out: under steady load the relay reads
   * continuously anyway, and every NOTIFY wakes it and costs a transaction.
   */
  constructor(db: SqlExecutor, schema: string, options: { minIntervalMs?: number } = {}) {
    quoteIdent(schema); // the channel is then a safe literal: [a-z0-9_] only
    this.#db = db;
    // Two statements in one simple query run as one implicit transaction (rolled back on error).
    this.#statement = `SET LOCAL synchronous_commit TO off; SELECT pg_notify('${outboxChannel(schema)}', '')`;
    this.#minIntervalMs = options.minIntervalMs ?? 10;
  }

  /** Asks for a NOTIFY soon (at once, or when the interval since the last one has passed); returns at once. */
  notify(): void {
    if (this.#timer || this.#inFlight) {
      this.#timer ??= setTimeout(() => this.#send(), this.#minIntervalMs);
      return;
    }
    const wait = this.#lastSentAt + this.#minIntervalMs - performance.now();
    if (wait > 0) this.#timer = setTimeout(() => this.#send(), wait);
    else this.#send();
  }

  /** Resolves when no NOTIFY is in flight or scheduled (for tests and shutdown). */
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
    this.#lastSentAt = performance.now();
    this.#inFlight = this.#db.query(this.#statement).then(() => undefined, () => undefined).finally(() => {
      this.#inFlight = undefined;
    });
  }
}
