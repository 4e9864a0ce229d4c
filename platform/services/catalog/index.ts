/**
 * Catalog: owns products. It changes them on request (its HTTP API, which the platform's
 * workload uses too) and publishes every change through its outbox, and shows each product with its price,
 * stock and rating from copies of what Pricing, Warehouse and Review publish.
 *
 * Owns:            catalog.products, catalog.deleted_products (tombstones) (products.ts)
 * Publishes:       catalog.product.created / updated (v2, with the optional description) / deleted
 * Keeps a copy of: pricing.price.updated → catalog.product_prices; warehouse.stock.changed →
 *                  catalog.product_stock; review.review.moderated → catalog.product_ratings (copies.ts).
 *                  An event about a product Catalog does not have is held and retried, then
 *                  dead-lettered naming the product; one about a deleted product is dropped.
 * Conflict rule:   version-based for all three copies (Pricing's, Warehouse's and Review's versions).
 * Cache:           `catalog:product` (view.ts): GET /catalog/products/:id, dropped by every applied
 *                  copy change and by Catalog's own updates and deletes.
 */
import type { PlatformModule } from '../../host/module.js';
import { catalogTopics } from '../../contracts/catalog.js';
import { catalogAudit } from './audit.js';
import { copyHandlers, copyTables } from './copies.js';
import { productDescriptionColumn, productsTable, productViewTables } from './products.js';
import { catalogRoutes } from './routes.js';
import type { ProductView } from './view.js';
import { systemErrorReported } from '../../contracts/notification.js';

export { createProduct, deleteProduct, updateProduct, type CatalogProduct, type NewProduct, type ProductChanges, type ViewChanged } from './products.js';
export type { ProductView } from './view.js';

/** The Catalog service. */
export const catalogModule: PlatformModule = {
  name: 'catalog',
  summary: 'Owns products; shows each with its price, stock and rating (copies of Pricing, Warehouse and Review events), cached',
  migrations: [productsTable, productDescriptionColumn, productViewTables, copyTables],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...catalogTopics, systemErrorReported],
  mount: '/catalog',
  build(ctx) {
    const cache = ctx.cache.open<ProductView>('catalog', 'product');
    return {
      handlers: copyHandlers(cache),
      routes: catalogRoutes({ producer: ctx.producer, db: ctx.pool, cache, onError: ctx.onError }),
    };
  },
  audit: catalogAudit,
};
