/**
 * Warehouse: owns stock. It changes it on request (the HTTP API) and publishes every change
 * through its outbox; its relay carries committed events to the broker in commit order.
 *
 * Owns:      warehouse.stock (stock.ts; one warehouse, no reservations yet)
 * Publishes: warehouse.stock.changed (platform/contracts/warehouse.ts)
 * Keeps a copy of: nothing yet (order, fulfillment and return events join later).
 */
import type { Publisher } from 'datasync';
import { startRelay, type OutboxRelay, type SqlPool } from 'datasync/postgres';
import { createProducer, defineService, type Producer } from 'datasync/runtime';
import { stockTable } from './stock.js';

export { ADJUST_REASONS, adjustStock, DEFAULT_WAREHOUSE_ID, InsufficientStockError, type Stock, type StockAdjustment } from './stock.js';

/** The service: its name (envelope `source`), schema and tables. */
export const warehouse = defineService({ name: 'warehouse', migrations: [stockTable] });

/** Configuration of {@link startWarehouse}. */
export interface WarehouseConfig {
  readonly pool: SqlPool;
  /** The database URL, for the relay's leader session. */
  readonly databaseUrl: string;
  /** Where the relay publishes. */
  readonly publisher: Publisher;
}

/** Warehouse running: its producer (for the HTTP API) and its relay. */
export interface RunningWarehouse {
  readonly producer: Producer;
  readonly relay: OutboxRelay;
  /** Stops the relay. */
  close(): Promise<void>;
}

/** Starts Warehouse's relay; its tables must be migrated (`migrate(pool, warehouse.schema, warehouse.migrations)`). */
export async function startWarehouse(config: WarehouseConfig): Promise<RunningWarehouse> {
  const producer = createProducer({ service: warehouse.name, pool: config.pool });
  const relay = await startRelay({ connectionString: config.databaseUrl, pool: config.pool, schema: warehouse.schema, publisher: config.publisher });
  return { producer, relay, close: () => relay.close() };
}
