/**
 * Search: keeps a searchable read model of the catalog with each product's price and stock,
 * and of published content pages, for the storefront's queries and the Gateway's product
 * views. Each event is applied once, in Search's own transaction, and only if it is newer than
 * the copy; every applied change to a product, its price or its stock raises the product's
 * view version, drops Search's cached view of it and tells the Gateway in the same transaction.
 *
 * Owns:            search.products (with view_version), search.prices, search.stock, search.pages (read-model.ts)
 * Publishes:       search.product.invalidated v2 (through its own outbox, in the consumer's transaction)
 * Keeps a copy of: catalog.product.created / updated (v2, with description) / deleted; pricing.price.updated
 *                  (per product and currency); warehouse.stock.changed (per product and warehouse, summed);
 *                  cms.page.published / unpublished. A price or stock change of a product Search does not
 *                  have is held and retried, then dead-lettered naming the product.
 * Conflict rule:   version-based everywhere: Catalog's, Pricing's, Warehouse's and the CMS's versions
 *                  (deleted products and unpublished pages stay as tombstones with their version).
 * Cache:           `search:product-view` (GET /search/products/:id) at the view version, dropped by the
 *                  handlers with a floor, so a read that started before a change cannot put the old view back.
 */
import type { CloudEvent } from 'datasync';
import type { Cache } from 'datasync/cache';
import type { SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type HandlerResult } from 'datasync/runtime';
import type { PlatformModule, ServiceContext } from '../../host/module.js';
import { uuidField } from '../../http/fields.js';
import { productCreated, productDeleted, productUpdated } from '../../contracts/catalog.js';
import { pagePublished, pageUnpublished } from '../../contracts/cms.js';
import { priceUpdated } from '../../contracts/pricing.js';
import { productInvalidated } from '../../contracts/search.js';
import { stockChanged } from '../../contracts/warehouse.js';
import { searchAudit } from './audit.js';
import { productsFullText, type ProductView } from './query.js';
import { applyPage, applyPrice, applyProduct, applyStock, pagesTable, productsTable, productViewTables, type AppliedChange } from './read-model.js';
import { searchRoutes } from './routes.js';
import { systemErrorReported } from '../../contracts/notification.js';

export { readProductView, searchPages, searchProducts, type PageHit, type ProductHit, type ProductView } from './query.js';

function isUuid(id: string): boolean {
  try {
    uuidField('productId', id);
    return true;
  } catch {
    return false;
  }
}

/**
 * Search's handlers. After each applied product, price or stock change: drop the cached view
 * and raise its floor to the new view version (before the commit, which is safe: a read of
 * the old view cannot be filled above the floor), and publish search.product.invalidated in
 * the same transaction (products whose id is not a UUID are indexed but announced to no one:
 * the storefront addresses products by UUID).
 */
function searchHandlers(ctx: ServiceContext, cache: Cache<ProductView>): AnySubscription[] {
  const announce = async (tx: SqlExecutor, event: CloudEvent, change: AppliedChange | undefined): Promise<HandlerResult> => {
    if (!change) return 'stale';
    await cache.invalidate(change.productId, change.viewVersion);
    if (isUuid(change.productId)) {
      await ctx.producer.publishWithin(tx, productInvalidated, { ...change, invalidatedAt: new Date().toISOString() }, {
        causationId: event.id, correlationId: event.correlationid,
      });
    }
    return 'applied';
  };
  return [
    on(productCreated, async ({ event, tx }) => announce(tx, event, await applyProduct(tx, event, event.data))),
    on(productUpdated, async ({ event, tx }) => announce(tx, event, await applyProduct(tx, event, event.data))),
    on(productDeleted, async ({ event, tx }) => announce(tx, event, await applyProduct(tx, event, null))),
    on(priceUpdated, async ({ event, tx }) => announce(tx, event, await applyPrice(tx, event))),
    on(stockChanged, async ({ event, tx }) => announce(tx, event, await applyStock(tx, event))),
    on(pagePublished, ({ event, tx }) => applyPage(tx, event, event.data)),
    on(pageUnpublished, ({ event, tx }) => applyPage(tx, event, null)),
  ];
}

/** The Search service. */
export const searchModule: PlatformModule = {
  name: 'search',
  summary: 'Full-text search over products (with price and stock) and content pages; the product views the Gateway serves',
  migrations: [productsTable, productsFullText, productViewTables, pagesTable],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [productInvalidated, systemErrorReported],
  mount: '/search',
  build(ctx) {
    const cache = ctx.cache.open<ProductView>('search', 'product-view');
    return { handlers: searchHandlers(ctx, cache), routes: searchRoutes({ db: ctx.pool, cache, onError: ctx.onError }) };
  },
  audit: searchAudit,
};
