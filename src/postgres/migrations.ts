import { SyncError } from '../core/errors.js';
import type { SqlExecutor, SqlPool } from './sql.js';
import { inTransaction, quoteIdent } from './sql.js';

/** One schema change, applied once per schema, in the order given. */
export interface Migration {
  /** Unique, stable id, e.g. `0001_outbox`. Never rename an applied migration. */
  readonly id: string;
  /** SQL to run; `{schema}` is replaced by the quoted schema name. */
  readonly sql: string;
}

/**
 * datasync's own tables in a service's schema (DESIGN.md section 3).
 * Documented column by column in docs/tables.md.
 */
export const DATASYNC_MIGRATIONS: readonly Migration[] = [
  {
    id: 'datasync_0001_outbox',
    sql: `
      CREATE TABLE IF NOT EXISTS {schema}.outbox (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        xid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
        event_id       text NOT NULL,
        topic          text NOT NULL,
        partition_key  text,
        envelope       jsonb NOT NULL,
        traceparent    text,
        created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
      );
      CREATE INDEX IF NOT EXISTS outbox_xid_id ON {schema}.outbox (xid, id);
      CREATE INDEX IF NOT EXISTS outbox_created_at ON {schema}.outbox (created_at);
      CREATE TABLE IF NOT EXISTS {schema}.outbox_relay (
        outbox          text PRIMARY KEY,
        position_xid    xid8 NOT NULL DEFAULT '0'::xid8,
        position_id     bigint NOT NULL DEFAULT 0,
        fencing_token   bigint NOT NULL DEFAULT 0,
        leader          text,
        leader_since    timestamptz,
        heartbeat_at    timestamptz,
        published_total bigint NOT NULL DEFAULT 0
      );
      INSERT INTO {schema}.outbox_relay (outbox) VALUES ('outbox') ON CONFLICT DO NOTHING;`,
  },
  {
    id: 'datasync_0002_processed_events',
    sql: `
      CREATE TABLE IF NOT EXISTS {schema}.processed_events (
        consumer      text NOT NULL,
        event_id      text NOT NULL,
        topic         text NOT NULL,
        processed_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
      );
      CREATE INDEX IF NOT EXISTS processed_events_processed_at ON {schema}.processed_events (processed_at);`,
  },
  {
    id: 'datasync_0003_dead_letters',
    sql: `
      CREATE TABLE IF NOT EXISTS {schema}.dead_letters (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        consumer         text NOT NULL,
        topic            text NOT NULL,
        event_id         text,
        partition_key    text,
        envelope         jsonb,
        raw_body         text,
        reason           text NOT NULL,
        error_class      text NOT NULL,
        error_code       text,
        error_message    text NOT NULL,
        attempts         integer NOT NULL,
        first_failed_at  timestamptz NOT NULL,
        last_failed_at   timestamptz NOT NULL,
        status           text NOT NULL DEFAULT 'pending',
        replay_count     integer NOT NULL DEFAULT 0,
        replayed_at      timestamptz,
        discarded_at     timestamptz,
        created_at       timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS dead_letters_status ON {schema}.dead_letters (status, created_at);
      CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_pending_event
        ON {schema}.dead_letters (consumer, event_id) WHERE status = 'pending' AND event_id IS NOT NULL;`,
  },
  {
    id: 'datasync_0004_audit_log',
    sql: `
      CREATE TABLE IF NOT EXISTS {schema}.audit_log (
        id      bigserial PRIMARY KEY,
        at      timestamptz NOT NULL DEFAULT now(),
        actor   text NOT NULL,
        action  text NOT NULL,
        target  text NOT NULL,
        detail  jsonb
      );
      CREATE INDEX IF NOT EXISTS audit_log_at ON {schema}.audit_log (at);`,
  },
];

/**
 * Creates `schema` and applies datasync's tables plus `extra` migrations (the
 * service's own), each once. Safe to run twice and concurrently: a transaction-scoped
 * advisory lock per schema serializes runners, and applied ids are recorded in
 * `<schema>.schema_migrations`. Returns the ids applied by this call.
 */
export async function migrate(pool: SqlPool, schema: string, extra: readonly Migration[] = []): Promise<string[]> {
  const quoted = quoteIdent(schema);
  return inTransaction(pool, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`datasync.migrate.${schema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${quoted}.schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = new Set((await tx.query<{ id: string }>(`SELECT id FROM ${quoted}.schema_migrations`)).rows.map((r) => r.id));
    const done: string[] = [];
    for (const migration of [...DATASYNC_MIGRATIONS, ...extra]) {
      if (applied.has(migration.id)) continue;
      await tx.query(migration.sql.replaceAll('{schema}', quoted));
      await tx.query(`INSERT INTO ${quoted}.schema_migrations (id) VALUES ($1)`, [migration.id]);
      done.push(migration.id);
    }
    return done;
  });
}

/** The ids of the migrations applied to `schema`, oldest first; empty if none. */
export async function appliedMigrations(db: SqlExecutor, schema: string): Promise<string[]> {
  const quoted = quoteIdent(schema);
  const exists = await db.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${quoted}.schema_migrations`]);
  if (!exists.rows[0]?.ok) return [];
  return (await db.query<{ id: string }>(`SELECT id FROM ${quoted}.schema_migrations ORDER BY applied_at, id`)).rows.map((r) => r.id);
}

/**
 * Throws SCHEMA_NOT_MIGRATED, naming what is missing and the command that fixes it,
 * unless `schema` has every one of datasync's `tables`.
 */
export async function assertMigrated(db: SqlExecutor, schema: string, tables: readonly string[]): Promise<void> {
  const { rows } = await db.query<{ name: string; present: boolean }>(
    `SELECT t.name, to_regclass(format('%I.%I', $1::text, t.name)) IS NOT NULL AS present FROM unnest($2::text[]) AS t(name)`,
    [schema, tables],
  );
  const missing = rows.filter((row) => !row.present).map((row) => row.name);
  if (missing.length === 0) return;
  const exists = await db.query<{ ok: boolean }>('SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS ok', [schema]);
  const what = exists.rows[0]?.ok ? `schema "${schema}" has no datasync table ${missing.join(', ')}` : `schema "${schema}" does not exist`;
  throw new SyncError('SCHEMA_NOT_MIGRATED', `${what}. Create datasync's tables with: datasync migrate --schema ${schema}`, { permanent: true });
}
