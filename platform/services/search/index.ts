/**
 * Search: keeps a read model of the catalog for its queries. Each product event is applied
 * once, in Search's own transaction, and only if it is newer than the copy (version check),
 * so duplicates and late arrivals change nothing. Deleted products stay as tombstones.
 *
 * Owns:      search.products (a read model: id, version, data, deleted; full-text index in query.ts)
 * Publishes: nothing
 * Keeps a copy of: catalog.product.created / updated / deleted (consumer group `search`)
 */
import type { CloudEvent, Transport } from 'datasync';
import type { SqlExecutor, SqlPool } from 'datasync/postgres';
import { applyIfNewer, on, defineService, readModelMigration, startConsumer, type Consumer, type ConsumerHooks } from 'datasync/runtime';
import { productCreated, productDeleted, productUpdated, type Product } from '../../contracts/catalog.js';
import { productsFullText } from './query.js';

/** Writes the product (or, with `null`, its tombstone) into `search.products` unless the copy is as new. */
function keepProduct(tx: SqlExecutor, event: CloudEvent<{ id: string }>, data: Product | null): Promise<'applied' | 'stale'> {
  return applyIfNewer(tx, {
    schema: 'search', table: 'products', id: event.data.id, version: event.entityversion,
    eventTime: event.time, eventId: event.id, data,
  });
}

/** The service: its read model and the topics it keeps a copy of. */
export const search = defineService({
  name: 'search',
  migrations: [readModelMigration('search_0001_products', 'products'), productsFullText],
  handlers: [
    on(productCreated, ({ event, tx }) => keepProduct(tx, event, event.data)),
    on(productUpdated, ({ event, tx }) => keepProduct(tx, event, event.data)),
    on(productDeleted, ({ event, tx }) => keepProduct(tx, event, null)),
  ],
});

/** Configuration of {@link startSearch}. */
export interface SearchConfig {
  readonly pool: SqlPool;
  readonly transport: Pick<Transport, 'subscriber' | 'publisher'>;
  readonly hooks?: ConsumerHooks;
}

/** Starts Search's consumer (group `search`); its read model must be migrated (`migrate(pool, search.schema, search.migrations)`). */
export function startSearch(config: SearchConfig): Promise<Consumer> {
  return startConsumer(search, { pool: config.pool, transport: config.transport, hooks: config.hooks, migrate: false });
}
