import { Coalescer } from '../core/coalescer.js';
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
 * as one round trip. Calls are coalesced (by a {@link Coalescer}, as the PostgreSQL
 * transport's notifier does): at most one NOTIFY is in flight per notifier and at most
 * one per `minIntervalMs`; calls made meanwhile produce one more.
 * Failures are ignored; the relay's poll picks the rows up anyway.
 */
export class OutboxNotifier {
  readonly #sends: Coalescer;

  /**
   * `minIntervalMs` (default 10) spaces NOTIFYs out: under steady load the relay reads
   * continuously anyway, and every NOTIFY wakes it and costs a transaction.
   */
  constructor(db: SqlExecutor, schema: string, options: { minIntervalMs?: number } = {}) {
    quoteIdent(schema); // the channel is then a safe literal: [a-z0-9_] only
    // Two statements in one simple query run as one implicit transaction (rolled back on error).
    const statement = `SET LOCAL synchronous_commit TO off; SELECT pg_notify('${outboxChannel(schema)}', '')`;
    this.#sends = new Coalescer(() => db.query(statement), options.minIntervalMs ?? 10);
  }

  /** Asks for a NOTIFY soon (at once, or when the interval since the last one has passed); returns at once. */
  notify(): void {
    this.#sends.request();
  }

  /** Resolves when no NOTIFY is in flight or scheduled (for tests and shutdown). */
  async settled(): Promise<void> {
    await this.#sends.settled();
  }
}
