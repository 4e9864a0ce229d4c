import { setTimeout as delay } from 'node:timers/promises';
import type { CloudEvent } from '../core/envelope.js';
import { ArgumentError } from '../core/errors.js';
import type { Publisher } from '../transports/transport.js';
import { cdcSlotStatus, type CdcSlotStatus } from './cdc-replication.js';
import type { SqlExecutor } from './sql.js';
import { quoteIdent } from './sql.js';

/** What `datasync outbox status` shows; see {@link outboxStatus}. */
export interface OutboxStatus {
  readonly schema: string;
  /** Committed rows beyond the cursor: not yet marked sent. */
  readonly pending: number;
  /** Age of the oldest pending row; 0 when nothing is pending. */
  readonly oldestPendingAgeSeconds: number;
  /** Sent rows still kept for replay: approximate (planner statistics) once the table has been analyzed. */
  readonly retained: number;
  /** The last row marked sent, in `(xid, id)` order; `{ xid: '0', id: '0' }` before the first. */
  readonly cursor: { readonly xid: string; readonly id: string };
  /** Instance id of the last relay that took leadership; `null` if none ever did. */
  readonly leader: string | null;
  /** Incremented at each takeover; a relay holding an older token is fenced. */
  readonly fencingToken: number;
  readonly heartbeatAt: Date | null;
  readonly leaderSince: Date | null;
  /** Rows marked sent since the outbox was created (a re-published batch counts again). */
  readonly publishedTotal: number;
  /**
   * The replication slot of the CDC relay (docs/relay.md, "CDC mode"): lag and retained
   * WAL in bytes; `null` when the outbox has no slot (polling mode).
   */
  readonly cdc: CdcSlotStatus | null;
}

/**
 * Reads the relay cursor and counts pending rows of `schema`'s outbox, and reports its
 * CDC slot if it has one. In CDC mode the cursor trails the stream a little (and stays
 * behind transactions still open), so `pending` may count rows already published.
 */
export async function outboxStatus(db: SqlExecutor, schema: string): Promise<OutboxStatus> {
  const quoted = quoteIdent(schema);
  const { rows } = await db.query<{
    xid: string;
    id: string;
    fencing_token: string;
    leader: string | null;
    heartbeat_at: Date | null;
    leader_since: Date | null;
    published_total: string;
    pending: string;
    oldest_age: number | null;
    estimated_rows: number;
  }>(
    `SELECT r.position_xid::text AS xid, r.position_id::text AS id, r.fencing_token::text AS fencing_token, r.leader,
            r.heartbeat_at, r.leader_since, r.published_total::text AS published_total, p.pending::text AS pending,
            extract(epoch FROM now() - p.oldest)::float8 AS oldest_age,
            (SELECT reltuples FROM pg_class WHERE oid = to_regclass($1))::float8 AS estimated_rows
     FROM ${quoted}.outbox_relay r
     CROSS JOIN LATERAL (
       SELECT count(*) AS pending, min(o.created_at) AS oldest FROM ${quoted}.outbox o
       WHERE (o.xid, o.id) > (r.position_xid, r.position_id)
     ) p
     WHERE r.outbox = 'outbox'`,
    [`${quoted}.outbox`],
  );
  const row = rows[0];
  if (!row) throw new ArgumentError('schema', schema, 'a schema migrated with migrate() (its outbox_relay row is missing)');
  const pending = Number(row.pending);
  let retained: number;
  if (row.estimated_rows >= 0) {
    retained = Math.max(0, Math.round(row.estimated_rows) - pending);
  } else {
    const counted = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${quoted}.outbox o, ${quoted}.outbox_relay r
       WHERE r.outbox = 'outbox' AND (o.xid, o.id) <= (r.position_xid, r.position_id)`,
    );
    retained = Number(counted.rows[0]?.n ?? 0);
  }
  return {
    schema,
    pending,
    oldestPendingAgeSeconds: Math.max(0, row.oldest_age ?? 0),
    retained,
    cursor: { xid: row.xid, id: row.id },
    leader: row.leader,
    fencingToken: Number(row.fencing_token),
    heartbeatAt: row.heartbeat_at,
    leaderSince: row.leader_since,
    publishedTotal: Number(row.published_total),
    cdc: await cdcSlotStatus(db, schema),
  };
}

/**
 * Just the backlog of `schema`'s outbox: committed events beyond the relay's cursor and the age
 * of the oldest. One query, cheap enough for every metrics scrape (outboxStatus also counts
 * retained rows and reads the CDC slot).
 */
export async function outboxBacklog(db: SqlExecutor, schema: string): Promise<Pick<OutboxStatus, 'pending' | 'oldestPendingAgeSeconds'>> {
  const quoted = quoteIdent(schema);
  const { rows } = await db.query<{ pending: string; oldest_age: number | null }>(
    `SELECT count(*)::text AS pending, extract(epoch FROM now() - min(o.created_at))::float8 AS oldest_age
     FROM ${quoted}.outbox_relay r JOIN ${quoted}.outbox o ON (o.xid, o.id) > (r.position_xid, r.position_id)
     WHERE r.outbox = 'outbox'`,
  );
  return { pending: Number(rows[0]?.pending ?? 0), oldestPendingAgeSeconds: Math.max(0, rows[0]?.oldest_age ?? 0) };
}

/** Options of {@link replayOutbox}. */
export interface ReplayOptions {
  readonly schema: string;
  /** First `created_at` to include. */
  readonly since: Date;
  /** First `created_at` no longer included; default: no upper bound. */
  readonly until?: Date;
  /** Only this topic; default: every topic. */
  readonly topic?: string;
  /** Count the matching rows, publish nothing. Default false. */
  readonly dryRun?: boolean;
  /** Most events published per second; default: no limit. */
  readonly ratePerSecond?: number;
  /** Rows read and published per round. Default 500. */
  readonly batchSize?: number;
  /** Stops between batches; the promise then rejects with the abort reason. */
  readonly signal?: AbortSignal;
  /**
   * Progress: `(0, total)` once the range is counted, then `(published so far, total)` after
   * each published batch. Not called on a dry run or an empty range. Must not throw.
   */
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Publishes again the sent rows created in `[since, until)` (optionally of one topic),
 * in `(xid, id)` order, to `publisher`. Rows not yet sent are left to the relay, and the
 * cursor is not touched. Consumers absorb the duplicates (DESIGN.md section 1).
 */
export async function replayOutbox(db: SqlExecutor, publisher: Publisher, options: ReplayOptions): Promise<{ matched: number; published: number }> {
  const quoted = quoteIdent(options.schema);
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ArgumentError('batchSize', batchSize, 'a positive integer');
  if (!(options.since instanceof Date) || Number.isNaN(options.since.getTime())) throw new ArgumentError('since', options.since, 'a valid Date');
  if (options.until !== undefined && (!(options.until instanceof Date) || Number.isNaN(options.until.getTime()))) {
    throw new ArgumentError('until', options.until, 'a valid Date');
  }
  const rate = options.ratePerSecond;
  if (rate !== undefined && !(rate > 0)) throw new ArgumentError('ratePerSecond', rate, 'a positive number');
  const { signal } = options;
  signal?.throwIfAborted();

  // The range is fixed at the start: the cursor as it is now bounds "sent".
  const filter = `o.created_at >= $1 AND ($2::timestamptz IS NULL OR o.created_at < $2) AND ($3::text IS NULL OR o.topic = $3)
    AND (o.xid, o.id) <= ($4::xid8, $5::bigint)`;
  const cursor = await db.query<{ xid: string; id: string }>(
    `SELECT position_xid::text AS xid, position_id::text AS id FROM ${quoted}.outbox_relay WHERE outbox = 'outbox'`,
  );
  const end = cursor.rows[0];
  if (!end) throw new ArgumentError('schema', options.schema, 'a schema migrated with migrate() (its outbox_relay row is missing)');
  const params = [options.since, options.until ?? null, options.topic ?? null, end.xid, end.id];
  const counted = await db.query<{ n: string; first_xid: string | null }>(
    `SELECT count(*)::text AS n, min(o.xid::text::numeric)::text AS first_xid FROM ${quoted}.outbox o WHERE ${filter}`,
    params,
  );
  const total = Number(counted.rows[0]?.n ?? 0);
  if (options.dryRun || total === 0) return { matched: total, published: 0 };

  options.onProgress?.(0, total);
  const pageSize = rate === undefined ? batchSize : Math.max(1, Math.min(batchSize, Math.floor(rate)));
  const started = Date.now();
  let position = { xid: counted.rows[0]!.first_xid!, id: '0' };
  let done = 0;
  for (;;) {
    signal?.throwIfAborted();
    const page = await db.query<{ xid: string; id: string; topic: string; envelope: CloudEvent }>(
      `SELECT o.xid::text AS xid, o.id::text AS id, o.topic, o.envelope FROM ${quoted}.outbox o
       WHERE ${filter} AND (o.xid, o.id) > ($6::xid8, $7::bigint)
       ORDER BY o.xid, o.id LIMIT $8`,
      [...params, position.xid, position.id, pageSize],
    );
    if (page.rows.length === 0) break;
    const byTopic = new Map<string, CloudEvent[]>();
    for (const row of page.rows) {
      const events = byTopic.get(row.topic);
      if (events) events.push(row.envelope);
      else byTopic.set(row.topic, [row.envelope]);
    }
    await Promise.all([...byTopic].map(([topic, events]) => publisher.publish(topic, events, { deduplicate: false, ...(signal ? { signal } : {}) })));
    done += page.rows.length;
    const last = page.rows[page.rows.length - 1]!;
    position = { xid: last.xid, id: last.id };
    options.onProgress?.(done, total);
    if (page.rows.length < pageSize) break;
    if (rate !== undefined) await delayFor(started + (done / rate) * 1_000 - Date.now(), signal);
  }
  return { matched: total, published: done };
}

/** Options of {@link purgeOutbox}. */
export interface PurgeOptions {
  /** Rows deleted per statement, so no single statement runs long. Default 5000. */
  readonly chunkSize?: number;
  /** Stops between chunks; the rows deleted so far stay deleted. */
  readonly signal?: AbortSignal;
}

/**
 * Deletes rows that are sent (at or before the relay cursor) and older than
 * `retentionMs`, in chunks; never a row not yet sent. Returns how many were deleted.
 */
export async function purgeOutbox(db: SqlExecutor, schema: string, retentionMs: number, options: PurgeOptions = {}): Promise<number> {
  const quoted = quoteIdent(schema);
  if (!Number.isFinite(retentionMs) || retentionMs < 0) throw new ArgumentError('retentionMs', retentionMs, 'a non-negative number of milliseconds');
  const chunkSize = options.chunkSize ?? 5_000;
  let deleted = 0;
  for (;;) {
    if (options.signal?.aborted) return deleted;
    const result = await db.query(
      `DELETE FROM ${quoted}.outbox WHERE id IN (
         SELECT o.id FROM ${quoted}.outbox o, ${quoted}.outbox_relay r
         WHERE r.outbox = 'outbox' AND o.created_at < now() - $1::float8 * interval '1 millisecond'
           AND (o.xid, o.id) <= (r.position_xid, r.position_id)
         LIMIT $2)`,
      [retentionMs, chunkSize],
    );
    const n = result.rowCount ?? 0;
    deleted += n;
    if (n < chunkSize) return deleted;
  }
}

/** Waits `ms` (nothing when ≤ 0) to pace a rate limit; rejects when `signal` aborts. */
function delayFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return ms > 0 ? delay(ms, undefined, { signal }) : Promise.resolve();
}
