import type { CloudEvent } from '../core/envelope.js';
import { SyncError } from '../core/errors.js';
import type { SqlExecutor } from './sql.js';
import { quoteIdent } from './sql.js';

/** Why an event was dead-lettered. */
export type DeadLetterReason = 'malformed' | 'schema_invalid' | 'permanent' | 'retries_exhausted' | 'no_handler';

/** A failed event with its failure context, as kept in `<schema>.dead_letters`. */
export interface DeadLetter {
  readonly id: string;
  readonly consumer: string;
  readonly topic: string;
  readonly eventId: string | null;
  readonly partitionKey: string | null;
  readonly envelope: CloudEvent | null;
  /** The message as received, when it could not be parsed into an envelope. */
  readonly rawBody: string | null;
  readonly reason: DeadLetterReason;
  readonly errorClass: string;
  readonly errorCode: string | null;
  readonly errorMessage: string;
  readonly attempts: number;
  readonly firstFailedAt: Date;
  readonly lastFailedAt: Date;
  readonly status: 'pending' | 'replayed' | 'discarded';
  readonly replayCount: number;
  readonly replayedAt: Date | null;
  readonly discardedAt: Date | null;
}

/** What the runtime records when it dead-letters an event. */
export type NewDeadLetter = Pick<DeadLetter, 'consumer' | 'topic' | 'eventId' | 'partitionKey' | 'envelope' | 'rawBody' | 'reason' | 'errorClass' | 'errorCode' | 'errorMessage' | 'attempts' | 'firstFailedAt' | 'lastFailedAt'>;

/** Filters of {@link DeadLetterStore.list}; every given one must match. */
export interface DeadLetterFilter {
  readonly topic?: string;
  readonly consumer?: string;
  /** Substring of the error message, class or code (case-insensitive). */
  readonly error?: string;
  /** Failed at or after this time. */
  readonly since?: Date;
  /** Default `pending`; `all` for every status. */
  readonly status?: DeadLetter['status'] | 'all';
  readonly ids?: readonly string[];
  readonly limit?: number;
  /**
   * Most recently failed first (`last_failed_at`, then id, descending: the dashboard's view)
   * instead of oldest id first. By failure time, not id: a letter recorded long ago that failed
   * again just now (a redelivered poison message updates its pending row) is among the newest.
   */
  readonly newestFirst?: boolean;
}

interface Row {
  id: string; consumer: string; topic: string; event_id: string | null; partition_key: string | null;
  envelope: CloudEvent | null; raw_body: string | null; reason: DeadLetterReason; error_class: string;
  error_code: string | null; error_message: string; attempts: number; first_failed_at: Date; last_failed_at: Date;
  status: DeadLetter['status']; replay_count: number; replayed_at: Date | null; discarded_at: Date | null;
}

/** The dead letters of one service schema: record, list, show, mark replayed, discard. */
export class DeadLetterStore {
  readonly schema: string;
  readonly #table: string;

  constructor(schema: string) {
    this.schema = schema;
    this.#table = `${quoteIdent(schema)}.dead_letters`;
  }

  /**
   * Records a dead letter. A pending dead letter of the same (consumer, event) is
   * updated instead of duplicated (a redelivered poison message stays one row).
   */
  async record(db: SqlExecutor, letter: NewDeadLetter): Promise<string> {
    const result = await db.query<{ id: string }>(
      `INSERT INTO ${this.#table} (consumer, topic, event_id, partition_key, envelope, raw_body, reason, error_class, error_code,
         error_message, attempts, first_failed_at, last_failed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (consumer, event_id) WHERE status = 'pending' AND event_id IS NOT NULL
       DO UPDATE SET attempts = ${this.#table}.attempts + EXCLUDED.attempts, last_failed_at = EXCLUDED.last_failed_at,
         error_class = EXCLUDED.error_class, error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message, reason = EXCLUDED.reason
       RETURNING id::text`,
      [letter.consumer, letter.topic, letter.eventId, letter.partitionKey, letter.envelope === null ? null : JSON.stringify(letter.envelope),
        letter.rawBody, letter.reason, letter.errorClass, letter.errorCode, letter.errorMessage, letter.attempts, letter.firstFailedAt, letter.lastFailedAt],
    );
    return result.rows[0]!.id;
  }

  /** Dead letters matching `filter`, oldest id first (unless `newestFirst`), at most `limit` (default 1,000). */
  async list(db: SqlExecutor, filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => { params.push(value); where.push(sql.replace('?', `$${params.length}`)); };
    const status = filter.status ?? 'pending';
    if (status !== 'all') add('status = ?', status);
    if (filter.topic !== undefined) add('topic = ?', filter.topic);
    if (filter.consumer !== undefined) add('consumer = ?', filter.consumer);
    if (filter.since !== undefined) add('last_failed_at >= ?', filter.since);
    // Matched literally: %, _ and \ in the text are not wildcards.
    if (filter.error !== undefined) add(`strpos(lower(error_message || ' ' || error_class || ' ' || coalesce(error_code, '')), lower(?)) > 0`, filter.error);
    if (filter.ids !== undefined) add('id = ANY(?::bigint[])', filter.ids);
    params.push(filter.limit ?? 1000);
    const sql = `SELECT id::text, consumer, topic, event_id, partition_key, envelope, raw_body, reason, error_class, error_code, error_message,
        attempts, first_failed_at, last_failed_at, status, replay_count, replayed_at, discarded_at
      FROM ${this.#table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ${filter.newestFirst ? 'last_failed_at DESC, id DESC' : 'id'} LIMIT $${params.length}`;
    return (await db.query<Row>(sql, params)).rows.map(toDeadLetter);
  }

  /** One dead letter; throws DEAD_LETTER_NOT_FOUND if no such id. */
  async get(db: SqlExecutor, id: string): Promise<DeadLetter> {
    if (!/^\d+$/.test(id)) throw new SyncError('DEAD_LETTER_NOT_FOUND', `dead letter ${JSON.stringify(id)} not found in ${this.schema}: ids are whole numbers`, { permanent: true });
    const [letter] = await this.list(db, { ids: [id], status: 'all', limit: 1 });
    if (!letter) throw new SyncError('DEAD_LETTER_NOT_FOUND', `dead letter ${id} not found in ${this.schema}.dead_letters`, { permanent: true });
    return letter;
  }

  /**
   * Locks one dead letter for the rest of `tx` (`FOR UPDATE`) and returns its current
   * status, or undefined if it no longer exists, so a replay can re-check the status
   * it selected and two concurrent replays of one letter run one after the other.
   */
  async lockForReplay(tx: SqlExecutor, id: string): Promise<DeadLetter['status'] | undefined> {
    const result = await tx.query<{ status: DeadLetter['status'] }>(`SELECT status FROM ${this.#table} WHERE id = $1 FOR UPDATE`, [id]);
    return result.rows[0]?.status;
  }

  /** Marks a dead letter replayed (its event was handed to the consumer again). */
  async markReplayed(db: SqlExecutor, id: string): Promise<void> {
    await db.query(`UPDATE ${this.#table} SET status = 'replayed', replay_count = replay_count + 1, replayed_at = now() WHERE id = $1`, [id]);
  }

  /** Marks a dead letter discarded: kept for audit, never replayed. Returns false if it was not pending. */
  async discard(db: SqlExecutor, id: string): Promise<boolean> {
    const result = await db.query(`UPDATE ${this.#table} SET status = 'discarded', discarded_at = now() WHERE id = $1 AND status = 'pending'`, [id]);
    return (result.rowCount ?? 0) > 0;
  }

  /** Pending dead letters, per topic and consumer. */
  async depth(db: SqlExecutor): Promise<{ topic: string; consumer: string; count: number }[]> {
    const result = await db.query<{ topic: string; consumer: string; count: string }>(
      `SELECT topic, consumer, count(*)::text AS count FROM ${this.#table} WHERE status = 'pending' GROUP BY topic, consumer ORDER BY topic, consumer`,
    );
    return result.rows.map((r) => ({ topic: r.topic, consumer: r.consumer, count: Number(r.count) }));
  }
}

function toDeadLetter(row: Row): DeadLetter {
  return {
    id: row.id, consumer: row.consumer, topic: row.topic, eventId: row.event_id, partitionKey: row.partition_key,
    envelope: row.envelope, rawBody: row.raw_body, reason: row.reason, errorClass: row.error_class, errorCode: row.error_code,
    errorMessage: row.error_message, attempts: row.attempts, firstFailedAt: row.first_failed_at, lastFailedAt: row.last_failed_at,
    status: row.status, replayCount: row.replay_count, replayedAt: row.replayed_at, discardedAt: row.discarded_at,
  };
}
