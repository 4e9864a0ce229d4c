import { SyncError } from '../../core/errors.js';
import type { Migration } from '../../postgres/migrations.js';
import type { SqlExecutor, SqlPool } from '../../postgres/sql.js';
import { inTransaction, quoteIdent } from '../../postgres/sql.js';

/** The transport's tables; the names do not collide with datasync's service tables, so a schema can hold both. */
export const TRANSPORT_TABLES = ['topic_log', 'group_offsets', 'claims', 'transport_migrations'] as const;

/**
 * The PostgreSQL transport's tables, documented column by column in
 * src/transports/postgres/README.md. Applied once per schema, in order.
 */
export const TRANSPORT_MIGRATIONS: readonly Migration[] = [
  {
    id: 'transport_0001_log_offsets_claims',
    sql: `
      CREATE TABLE IF NOT EXISTS {schema}.topic_log (
        id            bigserial PRIMARY KEY,
        xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
        topic         text NOT NULL,
        body          text NOT NULL,
        metadata      jsonb,
        published_at  timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS topic_log_topic_xid_id ON {schema}.topic_log (topic, xid, id);
      CREATE INDEX IF NOT EXISTS topic_log_published_at ON {schema}.topic_log (published_at);
      CREATE TABLE IF NOT EXISTS {schema}.group_offsets (
        topic         text NOT NULL,
        group_name    text NOT NULL,
        position_xid  xid8 NOT NULL DEFAULT '0'::xid8,
        position_id   bigint NOT NULL DEFAULT 0,
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic, group_name)
      );
      CREATE TABLE IF NOT EXISTS {schema}.claims (
        topic               text NOT NULL,
        message_id          bigint NOT NULL,
        group_name          text NOT NULL,
        consumer            text,
        attempt             integer NOT NULL,
        claimed_until       timestamptz NOT NULL,
        first_delivered_at  timestamptz NOT NULL DEFAULT now(),
        last_delivered_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic, message_id, group_name)
      );
      CREATE INDEX IF NOT EXISTS claims_due ON {schema}.claims (group_name, topic, claimed_until);`,
  },
];

/**
 * Creates `schema` and the transport's tables, each migration once. Safe to run twice and
 * concurrently: a transaction-scoped advisory lock per schema serializes runners, and applied
 * ids are recorded in `<schema>.transport_migrations`. Returns the ids applied by this call.
 */
export async function migrateTransport(pool: SqlPool, schema: string): Promise<string[]> {
  const quoted = quoteIdent(schema);
  return inTransaction(pool, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`datasync.transport.migrate.${schema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${quoted}.transport_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = new Set((await tx.query<{ id: string }>(`SELECT id FROM ${quoted}.transport_migrations`)).rows.map((r) => r.id));
    const done: string[] = [];
    for (const migration of TRANSPORT_MIGRATIONS) {
      if (applied.has(migration.id)) continue;
      await tx.query(migration.sql.replaceAll('{schema}', quoted));
      await tx.query(`INSERT INTO ${quoted}.transport_migrations (id) VALUES ($1)`, [migration.id]);
      done.push(migration.id);
    }
    return done;
  });
}

/**
 * Throws SCHEMA_NOT_MIGRATED, naming what is missing and how to create it, unless `schema`
 * has every table of the transport.
 */
export async function assertTransportMigrated(db: SqlExecutor, schema: string): Promise<void> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT t.name FROM unnest($2::text[]) AS t(name) WHERE to_regclass(format('%I.%I', $1::text, t.name)) IS NULL`,
    [schema, TRANSPORT_TABLES],
  );
  if (rows.length === 0) return;
  throw new SyncError(
    'SCHEMA_NOT_MIGRATED',
    `schema "${schema}" lacks the postgres transport's table ${rows.map((r) => r.name).join(', ')}. ` +
      'Create them with migrateTransport(pool, schema), or let createPostgresTransport do it (migrate: true, the default).',
    { permanent: true },
  );
}
