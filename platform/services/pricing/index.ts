/**
 * Pricing: owns prices. It sets list prices on request (the HTTP API) and sells at the list
 * price less the best active promotion; every change, whether from the API or from a promotion
 * or stock event, is published through its outbox.
 *
 * Owns:            pricing.prices (prices.ts): list price, selling price, promotion, version per product and currency
 * Publishes:       pricing.price.updated (platform/contracts/pricing.ts)
 * Keeps a copy of: promotion.promotion.created / updated / deleted → pricing.promotions;
 *                  warehouse.stock.changed → pricing.stock (copies.ts). Each applied change re-prices
 *                  the products it affects and publishes their prices in the consumer's transaction.
 *                  Rule: a product with 0 units available is sold at its list price. Prices for
 *                  products Catalog does not know are accepted (Pricing keeps no product copy).
 * Conflict rule:   version-based for both copies (Promotion's and Warehouse's versions).
 * Cache:           `pricing:price` (view.ts): GET /pricing/prices/:productId, dropped by price writes,
 *                  re-pricing and stock changes.
 */
import type { PlatformModule } from '../../host/module.js';
import { pricingTopics } from '../../contracts/pricing.js';
import { pricingAudit } from './audit.js';
import { copyHandlers, copyTables } from './copies.js';
import { pricesTable, sellingPriceColumns } from './prices.js';
import { pricingRoutes } from './routes.js';
import { PriceViews, type PriceView } from './view.js';
import { systemErrorReported } from '../../contracts/notification.js';

export { setPrice, type Price, type PriceChange } from './prices.js';
export type { PriceView } from './view.js';

/** The Pricing service. */
export const pricingModule: PlatformModule = {
  name: 'pricing',
  summary: 'Owns prices; sells at the list price less the best active promotion (copies of Promotion and Warehouse events), cached',
  migrations: [pricesTable, sellingPriceColumns, copyTables],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...pricingTopics, systemErrorReported],
  mount: '/pricing',
  build(ctx) {
    const views = new PriceViews(ctx.cache.open<PriceView>('pricing', 'price'), ctx.onError);
    return {
      handlers: copyHandlers(ctx.producer, views),
      routes: pricingRoutes({ producer: ctx.producer, db: ctx.pool, views }),
    };
  },
  audit: pricingAudit,
};
