import { createHash } from 'node:crypto';
import { ConfigurationError, SyncError } from '../core/errors.js';
import { assertMigrated } from './migrations.js';
import type { SqlExecutor } from './sql.js';
import { quoteIdent } from './sql.js';

/**
 * The PostgreSQL objects of one schema's CDC relay (docs/relay.md, "CDC mode"): a
 * publication of `<schema>.outbox` (INSERT only) and a logical replication slot
 * (`pgoutput`), plus the prefix of the logical messages the relay writes to find its
 * place in the stream.
 */
export interface CdcNames {
  /** `datasync_<schema>`; a slot name is unique in the whole cluster. */
  readonly slot: string;
  /** `datasync_outbox_<schema>`, in the outbox's database. */
  readonly publication: string;
  /** `datasync.cdc.<schema>`: prefix of the relay's logical messages (`pg_logical_emit_message`). */
  readonly messagePrefix: string;
}

/** PostgreSQL names (slots, publications) are at most 63 bytes. */
const MAX_NAME = 63;

/**
 * The names of `schema`'s CDC objects. A name that would pass 63 characters keeps
 * its start and ends in `_` plus 8 hex digits of a hash of the schema, so it stays
 * unique and stable.
 */
export function cdcNames(schema: string): CdcNames {
  quoteIdent(schema);
  return { slot: fitName('datasync_', schema), publication: fitName('datasync_outbox_', schema), messagePrefix: `datasync.cdc.${schema}` };
}

function fitName(prefix: string, schema: string): string {
  const name = `${prefix}${schema}`;
  if (name.length <= MAX_NAME) return name;
  const hash = createHash('sha256').update(schema).digest('hex').slice(0, 8);
  return `${prefix}${schema.slice(0, MAX_NAME - prefix.length - hash.length - 1)}_${hash}`;
}

/** What {@link migrateCdc} did. */
export interface CdcMigration {
  readonly publication: string;
  readonly publicationCreated: boolean;
  readonly slot: string;
  readonly slotCreated: boolean;
  /**
   * Why an existing slot was dropped and created anew, or null: `lost` (PostgreSQL
   * invalidated it, e.g. past `max_slot_wal_keep_size`) or `publication-missing` (the
   * publication had been dropped; PostgreSQL 15 cannot decode that slot's older changes).
   */
  readonly slotReplaced: 'lost' | 'publication-missing' | null;
}

/**
 * Throws CONFIGURATION_INVALID unless the server can run the CDC relay of `schema`:
 * `wal_level` must be `logical`, and a slot named like this schema's must be a
 * `pgoutput` slot of the current database (slot names are cluster-wide).
 */
export async function assertCdcPossible(db: SqlExecutor, schema: string): Promise<void> {
  const { slot } = cdcNames(schema);
  const { rows } = await db.query<{ wal_level: string; database: string; slot_database: string | null; plugin: string | null; slot_type: string | null }>(
    `SELECT current_setting('wal_level') AS wal_level, current_database() AS database, s.database AS slot_database, s.plugin, s.slot_type
     FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = $1`,
    [slot],
  );
  const row = rows[0]!;
  if (row.wal_level !== 'logical') {
    throw new ConfigurationError('wal_level', row.wal_level, "'logical' for the CDC relay (ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL), or use the polling relay (startRelay)");
  }
  if (row.slot_type !== null && (row.slot_type !== 'logical' || row.plugin !== 'pgoutput' || row.slot_database !== row.database)) {
    throw new ConfigurationError(
      'schema',
      schema,
      `a schema whose CDC slot name "${slot}" is free or a pgoutput slot of database "${row.database}"; it is a ${row.slot_type} slot (plugin ${row.plugin ?? '-'}) of database "${row.slot_database ?? '-'}"`,
    );
  }
}

/**
 * Creates the publication and the replication slot of `schema`'s outbox if they do
 * not exist (safe to run twice and concurrently), adds the outbox to a publication that
 * lost it (the table was dropped and created again), and replaces a slot that cannot
 * stream any more (see {@link CdcMigration.slotReplaced}). The CDC relay does this each
 * time it becomes leader; run it earlier to start keeping changes before the relay runs
 * (the slot then holds WAL until a relay consumes it). Creating a slot waits until every
 * transaction running at that moment has ended. Rejects with SCHEMA_NOT_MIGRATED when
 * the outbox is missing and CONFIGURATION_INVALID as {@link assertCdcPossible} says.
 *
 * Rows committed before the slot existed are not in its stream; the relay publishes them
 * with its catch-up read from the cursor (docs/relay.md), which is why creating or
 * replacing the slot while traffic flows loses nothing.
 */
export async function migrateCdc(db: SqlExecutor, schema: string): Promise<CdcMigration> {
  const { slot, publication } = cdcNames(schema);
  const quotedPublication = quoteIdent(publication, 'publication');
  await assertMigrated(db, schema, ['outbox', 'outbox_relay']);
  await assertCdcPossible(db, schema);
  const { rows: [state] } = await db.query<{ publication: boolean; covers_outbox: boolean; wal_status: string | null; slot_active: boolean | null }>(
    `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS publication,
            EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = 'outbox') AS covers_outbox,
            (SELECT wal_status FROM pg_replication_slots WHERE slot_name = $3) AS wal_status,
            (SELECT active FROM pg_replication_slots WHERE slot_name = $3) AS slot_active`,
    [publication, schema, slot],
  );
  let publicationCreated = false;
  if (!state!.publication) {
    publicationCreated = await createdUnlessExists(() => db.query(`CREATE PUBLICATION ${quotedPublication} FOR TABLE ${quoteIdent(schema)}.outbox WITH (publish = 'insert')`));
  } else if (!state!.covers_outbox) {
    await db.query(`ALTER PUBLICATION ${quotedPublication} ADD TABLE ${quoteIdent(schema)}.outbox`);
  }
  const slotExists = state!.slot_active !== null;
  const slotReplaced = !slotExists || state!.slot_active ? null : state!.wal_status === 'lost' ? 'lost' : publicationCreated ? 'publication-missing' : null;
  if (slotReplaced) await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
  let slotCreated = false;
  if (!slotExists || slotReplaced) {
    slotCreated = await createdUnlessExists(() => db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]));
  }
  return { publication, publicationCreated, slot, slotCreated, slotReplaced };
}

/** Runs `create`; false when it failed because the object exists (created concurrently). */
async function createdUnlessExists(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '42710') return false; // duplicate_object
    throw error;
  }
}

/** What {@link dropCdc} removed. */
export interface CdcDrop {
  readonly slot: string;
  readonly slotDropped: boolean;
  readonly publication: string;
  readonly publicationDropped: boolean;
}

/**
 * Drops the replication slot and the publication of `schema`'s outbox, so PostgreSQL
 * no longer keeps WAL for a CDC relay; absent objects are skipped. Rejects, dropping
 * nothing, while a CDC relay streams from the slot (stop it first). Rows not yet
 * published stay in the outbox beyond the relay cursor: a polling relay, or a CDC
 * relay (which creates a new slot and catches up), publishes them later.
 */
export async function dropCdc(db: SqlExecutor, schema: string): Promise<CdcDrop> {
  const { slot, publication } = cdcNames(schema);
  const { rows } = await db.query<{ active_pid: number | null }>(
    'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()',
    [slot],
  );
  const row = rows[0];
  if (row?.active_pid != null) {
    throw new SyncError('CDC_SLOT_ACTIVE', `replication slot ${slot} is in use by a running CDC relay (PostgreSQL pid ${row.active_pid}); stop the relay, then drop it`);
  }
  let slotDropped = false;
  if (row) {
    try {
      await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
      slotDropped = true;
    } catch (error) {
      if ((error as { code?: string }).code !== '42704') throw error; // dropped meanwhile
    }
  }
  const dropped = await db.query<{ pubname: string }>('SELECT pubname FROM pg_publication WHERE pubname = $1', [publication]);
  if (dropped.rows.length > 0) await db.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(publication, 'publication')}`);
  return { slot, slotDropped, publication, publicationDropped: dropped.rows.length > 0 };
}

/** The replication slot of a schema's CDC relay, as `datasync outbox status` shows it. */
export interface CdcSlotStatus {
  readonly slot: string;
  /** A CDC relay streams from it now. */
  readonly active: boolean;
  /** `reserved`, `extended`, `unreserved` or `lost` (pg_replication_slots.wal_status); `lost` means changes are gone. */
  readonly walStatus: string | null;
  /** Everything committed before this LSN has been published and acknowledged. */
  readonly confirmedFlushLsn: string | null;
  /** WAL bytes between the server's current position and `confirmedFlushLsn`: how far the relay is behind. */
  readonly lagBytes: number;
  /** WAL bytes the server keeps for this slot (from its `restart_lsn`); grows while no relay consumes the slot. */
  readonly retainedWalBytes: number;
}

/** The CDC slot of `schema` in the current database, or null when there is none (polling mode). */
export async function cdcSlotStatus(db: SqlExecutor, schema: string): Promise<CdcSlotStatus | null> {
  const { slot } = cdcNames(schema);
  const { rows } = await db.query<{ active: boolean; wal_status: string | null; confirmed: string | null; lag: number | null; retained: number | null }>(
    `SELECT s.active, s.wal_status, s.confirmed_flush_lsn::text AS confirmed,
            pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn)::float8 AS lag,
            pg_wal_lsn_diff(w.lsn, s.restart_lsn)::float8 AS retained
     FROM pg_replication_slots s,
          LATERAL (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) w
     WHERE s.slot_name = $1 AND s.database = current_database()`,
    [slot],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    slot,
    active: row.active,
    walStatus: row.wal_status,
    confirmedFlushLsn: row.confirmed,
    lagBytes: Math.max(0, row.lag ?? 0),
    retainedWalBytes: Math.max(0, row.retained ?? 0),
  };
}
