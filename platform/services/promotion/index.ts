/**
 * Promotion: owns promotions (discounts on products or categories for a period, with or
 * without a coupon code). It changes them on request (the HTTP API) and publishes every change
 * through its outbox; Pricing re-prices the products they name.
 *
 * Owns:            promotion.promotions (promotions.ts)
 * Publishes:       promotion.promotion.created / updated / deleted (platform/contracts/promotion.ts)
 * Keeps a copy of: catalog.product.created / updated / deleted → promotion.products (products.ts): the
 *                  products a promotion may name; a deleted product leaves every promotion (one left
 *                  with nothing to apply to ends), published as promotion.promotion.updated.
 * Conflict rule:   the product copy is version-based (Catalog's version); a promotion change through
 *                  the API is refused with 409 if the promotion changed while the request ran.
 */
import type { PlatformModule } from '../../host/module.js';
import { promotionTopics } from '../../contracts/promotion.js';
import { promotionAudit } from './audit.js';
import { productCopy, productHandlers } from './products.js';
import { promotionsTable } from './promotions.js';
import { promotionRoutes } from './routes.js';
import { systemErrorReported } from '../../contracts/notification.js';

export type { PromotionFields } from './promotions.js';

/** The Promotion service. */
export const promotionModule: PlatformModule = {
  name: 'promotion',
  summary: 'Owns promotions (percentage or fixed-amount discounts on products or categories); ends those of deleted products',
  migrations: [promotionsTable, productCopy],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...promotionTopics, systemErrorReported],
  mount: '/promotions',
  build(ctx) {
    return {
      handlers: productHandlers(ctx.producer),
      routes: promotionRoutes({ producer: ctx.producer, db: ctx.pool, services: ctx.services }),
    };
  },
  audit: promotionAudit,
};
