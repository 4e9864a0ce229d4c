/**
 * Catalog: owns products. It changes them (the demo's workload) and publishes every change
 * through its outbox; its relay carries committed events to the broker in commit order.
 *
 * Owns:      catalog.products (products.ts)
 * Publishes: catalog.product.created / updated / deleted (platform/contracts/catalog.ts)
 * Keeps a copy of: nothing yet.
 */
import { startRelay, type OutboxRelay, type SqlPool } from 'datasync/postgres';
import { createProducer, defineService, type Producer } from 'datasync/runtime';
import type { Publisher } from 'datasync';
import { productDescriptionColumn, productsTable } from './products.js';
import { startWorkload, type Workload, type WorkloadStats } from './workload.js';

export { createProduct, deleteProduct, updateProduct, type CatalogProduct, type NewProduct, type ProductChanges } from './products.js';

/** The service: its name (envelope `source`), schema and tables. */
export const catalog = defineService({
  name: 'catalog',
  migrations: [productsTable, productDescriptionColumn],
});

/** Configuration of {@link startCatalog}. */
export interface CatalogConfig {
  readonly pool: SqlPool;
  /** The database URL, for the relay's leader session. */
  readonly databaseUrl: string;
  /** Where the relay publishes. */
  readonly publisher: Publisher;
  /** Product changes per second of the demo's workload. */
  readonly rate: number;
  /** Run the demo's workload; default true. Without it products change only through the HTTP API. */
  readonly workload?: boolean;
  /** Products the catalog hovers around (created first, then changed and sometimes deleted); default 200. */
  readonly products?: number;
  /** A product change that failed (the workload goes on). */
  readonly onError?: (error: unknown) => void;
}

/** Catalog running: its producer, its relay and its workload. */
export interface RunningCatalog {
  readonly producer: Producer;
  readonly relay: OutboxRelay;
  /** Changes committed by this run. */
  stats(): WorkloadStats;
  /** Stops changing products; the relay goes on publishing what was committed. */
  stopChanges(): Promise<void>;
  /** Stops changing products and stops the relay. Idempotent. */
  close(): Promise<void>;
}

/** The workload of a catalog that changes only on request. */
const idleWorkload: Workload = { stats: () => ({ created: 0, updated: 0, deleted: 0, written: 0 }), stop: async () => undefined };

/** Starts Catalog's relay and workload; its tables must be migrated (`migrate(pool, catalog.schema, catalog.migrations)`). */
export async function startCatalog(config: CatalogConfig): Promise<RunningCatalog> {
  const producer = createProducer({ service: catalog.name, pool: config.pool });
  const relay = await startRelay({ connectionString: config.databaseUrl, pool: config.pool, schema: catalog.schema, publisher: config.publisher });
  let workload: Workload;
  try {
    workload = config.workload === false
      ? idleWorkload
      : await startWorkload({ producer, db: config.pool, rate: config.rate, targetProducts: config.products, onError: config.onError });
  } catch (error) {
    await relay.close();
    throw error;
  }
  return {
    producer,
    relay,
    stats: () => workload.stats(),
    stopChanges: () => workload.stop(),
    async close() {
      await workload.stop();
      await relay.close();
    },
  };
}
