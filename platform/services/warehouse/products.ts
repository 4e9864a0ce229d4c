import type { CloudEvent } from 'datasync';
import type { SqlExecutor } from 'datasync/postgres';
import { applyIfNewer, on, readModelMigration, type AnySubscription } from 'datasync/runtime';
import { productCreated, productDeleted, productUpdated, type Product } from '../../contracts/catalog.js';
import type { StockViews } from './view.js';

/**
 * Warehouse's copy of Catalog's products: which products it may stock, and the SKU and name
 * its stock view shows. Conflict rule: version-based (`applyIfNewer`, Catalog's version);
 * a deleted product stays as a tombstone with its version. Each applied change drops the
 * product's cached stock view.
 */

/** The copy: `warehouse.products` (id, version, data, deleted), in datasync's read-model layout. */
export const productCopy = readModelMigration('warehouse_0003_products', 'products');

/** What Warehouse knows of a product: its copy's status (`deleted` for a tombstone), or `unknown`. */
export type ProductState = Product['status'] | 'deleted' | 'unknown';

/** The state of each of `productIds` in the copy; a product that has stock counts as known even before its copy arrived. */
export async function productStates(db: SqlExecutor, productIds: readonly string[]): Promise<Map<string, ProductState>> {
  const { rows } = await db.query<{ id: string; state: ProductState }>(
    `SELECT ids.id, CASE WHEN p.deleted THEN 'deleted' ELSE coalesce(p.data->>'status', CASE WHEN s.product_id IS NULL THEN 'unknown' ELSE 'active' END) END AS state
     FROM unnest($1::text[]) AS ids(id)
     LEFT JOIN warehouse.products p ON p.id = ids.id
     LEFT JOIN warehouse.stock s ON s.product_id::text = ids.id`,
    [productIds],
  );
  return new Map(rows.map((row) => [row.id, row.state]));
}

/** The handlers keeping the copy. */
export function productHandlers(views: StockViews): AnySubscription[] {
  async function keep(tx: SqlExecutor, event: CloudEvent<{ id: string }>, data: Product | null): Promise<'applied' | 'stale'> {
    const outcome = await applyIfNewer(tx, {
      schema: 'warehouse', table: 'products', id: event.data.id, version: event.entityversion,
      eventTime: event.time, eventId: event.id, data,
    });
    if (outcome === 'applied') await views.changed(tx, event.data.id);
    return outcome;
  }
  return [
    on(productCreated, ({ event, tx }) => keep(tx, event, event.data)),
    on(productUpdated, ({ event, tx }) => keep(tx, event, event.data)),
    on(productDeleted, ({ event, tx }) => keep(tx, event, null)),
  ];
}
