import { Gauge, Registry } from 'prom-client';
import { cdcNames } from '../postgres/cdc-replication.js';
import type { SqlExecutor } from '../postgres/sql.js';

/** datasync's Prometheus registry; serve `await metricsRegistry.metrics()` on `/metrics`. */
export const metricsRegistry = new Registry();

/** Name of the gauge {@link registerCdcSlotMetrics} adds. */
export const CDC_SLOT_RETAINED_WAL_METRIC = 'datasync_cdc_slot_retained_wal_bytes';

/**
 * Adds the gauge `datasync_cdc_slot_retained_wal_bytes{slot, schema}`: WAL bytes
 * PostgreSQL keeps for each CDC relay slot of the database behind `db` (from the slot's
 * `restart_lsn`). It is read from `pg_replication_slots` at every scrape, so it keeps
 * growing while no relay consumes a slot: alert on it (docs/relay.md, "CDC mode").
 * `schema` is empty for a slot whose outbox schema no longer exists (a leaked slot).
 * Registering again on the same registry replaces the gauge (the latest `db` is used).
 * A failing query fails the scrape.
 */
export function registerCdcSlotMetrics(db: SqlExecutor, registry: Registry = metricsRegistry): Gauge<'slot' | 'schema'> {
  registry.removeSingleMetric(CDC_SLOT_RETAINED_WAL_METRIC);
  return new Gauge({
    name: CDC_SLOT_RETAINED_WAL_METRIC,
    help: 'WAL bytes PostgreSQL retains for a CDC relay replication slot; grows while the relay is down',
    labelNames: ['slot', 'schema'] as const,
    registers: [registry],
    async collect() {
      const { rows } = await db.query<{ schemas: string[] | null; slot_name: string | null; retained: number | null }>(
        `SELECT (SELECT array_agg(c.relnamespace::regnamespace::text) FROM pg_class c WHERE c.relname = 'outbox_relay' AND c.relkind = 'r') AS schemas,
                s.slot_name, pg_wal_lsn_diff(w.lsn, s.restart_lsn)::float8 AS retained
         FROM (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) w
         LEFT JOIN pg_replication_slots s ON s.database = current_database() AND s.slot_name LIKE 'datasync\\_%'`,
      );
      const schemaOfSlot = new Map((rows[0]?.schemas ?? []).map((schema) => [slotOf(schema), schema]));
      this.reset();
      for (const row of rows) {
        if (row.slot_name === null) continue;
        this.set({ slot: row.slot_name, schema: schemaOfSlot.get(row.slot_name) ?? '' }, Math.max(0, row.retained ?? 0));
      }
    },
  });
}

/** The slot name of a schema, or '' for a name that is not a datasync schema name. */
function slotOf(schema: string): string {
  try {
    return cdcNames(schema).slot;
  } catch {
    return '';
  }
}
