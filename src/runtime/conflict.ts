import type { Migration } from '../postgres/migrations.js';
import type { SqlExecutor } from '../postgres/sql.js';
import { quoteIdent } from '../postgres/sql.js';

/**
 * Conflict resolution for read models kept as `(id, version, event_time, event_id, data)`
 * rows. Both helpers upsert in the consumer's transaction and return `stale` when the
 * stored row is already newer, so the runtime counts the event and applies nothing.
 */

/** A migration creating a read-model table in the layout these helpers expect. */
export function readModelMigration(id: string, table: string): Migration {
  const name = quoteIdent(table, 'table');
  return {
    id,
    sql: `CREATE TABLE IF NOT EXISTS {schema}.${name} (
      id          text PRIMARY KEY,
      version     bigint NOT NULL,
      event_time  timestamptz NOT NULL,
      event_id    text NOT NULL,
      deleted     boolean NOT NULL DEFAULT false,
      data        jsonb,
      updated_at  timestamptz NOT NULL DEFAULT now()
    )`,
  };
}

/** One change to apply to a read model. */
export interface ReadModelChange {
  /** Schema-qualified table: `{ schema, table }`. */
  readonly schema: string;
  readonly table: string;
  /** Entity id. */
  readonly id: string;
  /** The owner's version (`entityversion`); required by {@link applyIfNewer}. */
  readonly version?: number;
  /** Event time (`time`), used by {@link applyLastWriteWins}. */
  readonly eventTime: string;
  readonly eventId: string;
  /** The new state; `null` marks the entity deleted (a tombstone that keeps its version). */
  readonly data: unknown;
}

/**
 * Version-based: applies the change only if `version` is greater than the stored one.
 * The default for owners that keep versions.
 */
export async function applyIfNewer(tx: SqlExecutor, change: ReadModelChange): Promise<'applied' | 'stale'> {
  if (change.version === undefined) throw new TypeError(`applyIfNewer(${change.table}, ${change.id}): the event has no entityversion; use applyLastWriteWins for owners without versions`);
  const table = `${quoteIdent(change.schema)}.${quoteIdent(change.table, 'table')}`;
  const result = await tx.query(
    `INSERT INTO ${table} AS t (id, version, event_time, event_id, deleted, data) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, event_time = EXCLUDED.event_time, event_id = EXCLUDED.event_id,
       deleted = EXCLUDED.deleted, data = EXCLUDED.data, updated_at = now()
     WHERE t.version < EXCLUDED.version`,
    [change.id, change.version, change.eventTime, change.eventId, change.data === null, change.data === null ? null : JSON.stringify(change.data)],
  );
  return result.rowCount === 1 ? 'applied' : 'stale';
}

/**
 * Last-write-wins by event time, ties broken by event id (UUIDv7 ids order by
 * creation), so every replica picks the same winner whatever the arrival order.
 */
export async function applyLastWriteWins(tx: SqlExecutor, change: ReadModelChange): Promise<'applied' | 'stale'> {
  const table = `${quoteIdent(change.schema)}.${quoteIdent(change.table, 'table')}`;
  const result = await tx.query(
    `INSERT INTO ${table} AS t (id, version, event_time, event_id, deleted, data) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, event_time = EXCLUDED.event_time, event_id = EXCLUDED.event_id,
       deleted = EXCLUDED.deleted, data = EXCLUDED.data, updated_at = now()
     WHERE (t.event_time, t.event_id) < (EXCLUDED.event_time, EXCLUDED.event_id)`,
    [change.id, change.version ?? 0, change.eventTime, change.eventId, change.data === null, change.data === null ? null : JSON.stringify(change.data)],
  );
  return result.rowCount === 1 ? 'applied' : 'stale';
}

/**
 * {@link applyIfNewer} for many changes of one table with one statement, for batch
 * handlers (`onBatch`). Returns `applied` or `stale` per change, in order. Of several
 * changes to one id, only the highest version can apply.
 */
export async function applyIfNewerMany(tx: SqlExecutor, changes: readonly ReadModelChange[]): Promise<('applied' | 'stale')[]> {
  if (changes.length === 0) return [];
  const { schema, table: name } = changes[0]!;
  const table = `${quoteIdent(schema)}.${quoteIdent(name, 'table')}`;
  const best = new Map<string, number>();
  changes.forEach((change, i) => {
    if (change.version === undefined) throw new TypeError(`applyIfNewerMany(${name}, ${change.id}): the event has no entityversion; use applyLastWriteWins for owners without versions`);
    if (change.schema !== schema || change.table !== name) throw new TypeError(`applyIfNewerMany: every change must target ${schema}.${name}`);
    const current = best.get(change.id);
    if (current === undefined || changes[current]!.version! < change.version) best.set(change.id, i);
  });
  const chosen = [...best.values()].map((i) => changes[i]!);
  const result = await tx.query<{ id: string }>(
    `INSERT INTO ${table} AS t (id, version, event_time, event_id, deleted, data)
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::boolean[], $6::jsonb[])
     ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, event_time = EXCLUDED.event_time, event_id = EXCLUDED.event_id,
       deleted = EXCLUDED.deleted, data = EXCLUDED.data, updated_at = now()
     WHERE t.version < EXCLUDED.version
     RETURNING id`,
    [chosen.map((c) => c.id), chosen.map((c) => c.version), chosen.map((c) => c.eventTime), chosen.map((c) => c.eventId),
      chosen.map((c) => c.data === null), chosen.map((c) => (c.data === null ? null : JSON.stringify(c.data)))],
  );
  const applied = new Set(result.rows.map((row) => row.id));
  return changes.map((change, i) => (best.get(change.id) === i && applied.has(change.id) ? 'applied' : 'stale'));
}
