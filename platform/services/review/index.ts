/**
 * Review: owns product reviews and their moderation. Takes reviews for products in its copy
 * of the catalog, marks them verified when the customer bought the product (from placed
 * orders), and publishes submissions and moderation decisions through its outbox.
 *
 * Owns:      review.reviews (reviews.ts)
 * Publishes: review.review.submitted / moderated (platform/contracts/review.ts)
 * Keeps a copy of: catalog.product.created / updated / deleted → review.products;
 *                  order.order.placed → review.purchases (events.ts)
 * Conflict rule: products version-based (applyIfNewer, tombstones keep their version);
 *                purchases are facts, one row per product of an order (runtime idempotency by event id).
 */
import { reviewTopics } from '../../contracts/review.js';
import type { PlatformModule } from '../../host/module.js';
import { reviewAudit } from './audit.js';
import { reviewHandlers } from './events.js';
import { reviewTables } from './reviews.js';
import { reviewRoutes } from './routes.js';
import { systemErrorReported } from '../../contracts/notification.js';

export const reviewModule: PlatformModule = {
  name: 'review',
  summary: 'Product reviews and moderation; verified purchases from placed orders',
  migrations: reviewTables,
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...reviewTopics, systemErrorReported],
  mount: '/reviews',
  build(ctx) {
    return { handlers: reviewHandlers, routes: reviewRoutes({ producer: ctx.producer, db: ctx.pool }) };
  },
  audit: reviewAudit,
};
