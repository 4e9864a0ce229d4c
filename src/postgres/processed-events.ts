import type { SqlExecutor } from './sql.js';
import { quoteIdent } from './sql.js';

/**
 * The inbox of exactly-once effect: `(consumer, event_id)` rows in
 * `<schema>.processed_events`, inserted in the same transaction as the consumer's
 * read-model change, so a duplicate delivery commits nothing.
 */
export class ProcessedEvents {
  readonly #table: string;

  constructor(schema: string) {
    this.#table = `${quoteIdent(schema)}.processed_events`;
  }

  /**
   * Records the event as processed by `consumer` inside `tx`. Returns false when it
   * was already recorded (a duplicate): the caller must then change nothing. A
   * concurrent duplicate waits on the first one's row lock and sees its outcome.
   */
  async claim(tx: SqlExecutor, consumer: string, eventId: string, topic: string): Promise<boolean> {
    const result = await tx.query(
      `INSERT INTO ${this.#table} (consumer, event_id, topic) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [consumer, eventId, topic],
    );
    return result.rowCount === 1;
  }

  /** True if `consumer` has processed the event. */
  async has(db: SqlExecutor, consumer: string, eventId: string): Promise<boolean> {
    const result = await db.query(`SELECT 1 FROM ${this.#table} WHERE consumer = $1 AND event_id = $2`, [consumer, eventId]);
    return result.rows.length > 0;
  }

  /** Deletes records older than `olderThanMs`; returns how many. Keep it longer than any redelivery window. */
  async purge(db: SqlExecutor, olderThanMs: number): Promise<number> {
    const result = await db.query(`DELETE FROM ${this.#table} WHERE processed_at < now() - make_interval(secs => $1)`, [olderThanMs / 1000]);
    return result.rowCount ?? 0;
  }
}
