/**
 * Loyalty: owns customers' loyalty accounts (points balance, tier) and their ledger. Earns
 * points when an order is delivered, claws them back when a delivered order is cancelled,
 * takes manual adjustments, and publishes every points change (and tier move) through its
 * outbox, from a consumer in the consumer's own transaction (`producer.publishWithin`).
 *
 * Owns:      loyalty.accounts, loyalty.ledger (accounts.ts)
 * Publishes: loyalty.account.points-changed / tier-changed (platform/contracts/loyalty.ts)
 * Keeps a copy of: order.order.placed → loyalty.orders (customer, total, status), updated by
 *                  order.order.status-changed (orders.ts)
 * Conflict rule: orders version-based (an older status is `stale`); a placed order is inserted once.
 * Tiers follow the balance: bronze from 0, silver 500, gold 2,000, platinum 10,000 points.
 */
import { loyaltyTopics } from '../../contracts/loyalty.js';
import type { PlatformModule } from '../../host/module.js';
import { loyaltyTables } from './accounts.js';
import { loyaltyAudit } from './audit.js';
import { orderHandlers } from './orders.js';
import { loyaltyRoutes } from './routes.js';
import { systemErrorReported } from '../../contracts/notification.js';

export const loyaltyModule: PlatformModule = {
  name: 'loyalty',
  summary: 'Loyalty points and tiers: earned on delivery, clawed back on cancellation, adjustable',
  migrations: [loyaltyTables],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...loyaltyTopics, systemErrorReported],
  mount: '/loyalty',
  build(ctx) {
    return {
      handlers: orderHandlers(ctx.producer),
      routes: loyaltyRoutes({ producer: ctx.producer, db: ctx.pool, services: ctx.services }),
    };
  },
  audit: loyaltyAudit,
};
