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

  /**
   * {@link claim} for many events with one statement: element i of the result is
   * true when `events[i]` was not yet recorded. Of repeated ids, the first wins.
   */
  async claimMany(tx: SqlExecutor, consumer: string, events: readonly { eventId: string; topic: string }[]): Promise<boolean[]> {
    if (events.length === 0) return [];
    // Insert in id order: two consumers claiming overlapping redeliveries then wait for each
    // other instead of deadlocking.
    const sorted = [...events].sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
    const result = await tx.query<{ event_id: string }>(
      `INSERT INTO ${this.#table} (consumer, event_id, topic)
       SELECT $1, e.id, e.topic FROM unnest($2::text[], $3::text[]) AS e(id, topic)
       ON CONFLICT DO NOTHING RETURNING event_id`,
      [consumer, sorted.map((e) => e.eventId), sorted.map((e) => e.topic)],
    );
    const inserted = new Set(result.rows.map((row) => row.event_id));
    return events.map((e) => inserted.delete(e.eventId));
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
