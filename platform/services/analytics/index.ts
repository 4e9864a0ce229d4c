/**
 * Analytics: daily counts of what happens on the platform (orders and revenue, catalog and
 * customer changes, page views) that never inflate on redelivery, and a data-quality monitor.
 *
 * Owns:            analytics.facts (one row per consumed event, keyed by event id; facts.ts)
 * Publishes:       notification.system-error.reported: for every alert check that fails (routes.ts), and
 *                  (through the host, platform/host/run.ts) for every event it dead-letters
 * Keeps a copy of: nothing but facts of order.order.placed / status-changed, catalog.product.created /
 *                  updated / deleted, customer.customer.created / updated / deleted and storefront.page.viewed;
 *                  never a field marked x-pii, never a payload
 * Conflict rule:   none needed: facts are immutable, one per event id (insert-if-absent); counts are
 *                  derived from them at query time
 * Business rule:   an order whose figures do not add up (lines → subtotal; subtotal − discount + shipping + tax
 *                  → total) is refused (PermanentError → dead letter), so revenue is never counted wrong.
 */
import { on, type AnySubscription } from 'datasync/runtime';
import type { PlatformModule } from '../../host/module.js';
import { productCreated, productDeleted, productUpdated } from '../../contracts/catalog.js';
import { customerCreated, customerDeleted, customerUpdated } from '../../contracts/customer.js';
import { systemErrorReported } from '../../contracts/notification.js';
import { orderPlaced, orderStatusChanged } from '../../contracts/order.js';
import { pageViewed } from '../../contracts/storefront.js';
import { analyticsAudit } from './audit.js';
import { checkOrderTotals, factsTable, recordFact } from './facts.js';
import { analyticsRoutes } from './routes.js';

/** The Analytics service. */
export const analyticsModule: PlatformModule = {
  name: 'analytics',
  summary: 'Daily counts of orders, revenue, catalog and customer changes and page views that never inflate; metric alerts',
  migrations: [factsTable],
  publishes: [systemErrorReported],
  mount: '/analytics',
  build(ctx) {
    const handlers: AnySubscription[] = [
      on(orderPlaced, async ({ event, tx }) => {
        checkOrderTotals(event.data);
        const order = event.data;
        return recordFact(tx, event, { kind: 'order_placed', entityId: order.id, occurredAt: order.placedAt, currency: order.currency, amount: order.total });
      }),
      on(orderStatusChanged, ({ event, tx }) => recordFact(tx, event, {
        kind: 'order_status_changed', entityId: event.data.id, occurredAt: event.data.changedAt, status: event.data.status,
      })),
      on(productCreated, ({ event, tx }) => recordFact(tx, event, { kind: 'product_created', entityId: event.data.id, occurredAt: event.data.updatedAt })),
      on(productUpdated, ({ event, tx }) => recordFact(tx, event, { kind: 'product_updated', entityId: event.data.id, occurredAt: event.data.updatedAt })),
      on(productDeleted, ({ event, tx }) => recordFact(tx, event, { kind: 'product_deleted', entityId: event.data.id, occurredAt: event.data.deletedAt })),
      on(customerCreated, ({ event, tx }) => recordFact(tx, event, { kind: 'customer_created', entityId: event.data.id, occurredAt: event.data.updatedAt })),
      on(customerUpdated, ({ event, tx }) => recordFact(tx, event, { kind: 'customer_updated', entityId: event.data.id, occurredAt: event.data.updatedAt })),
      on(customerDeleted, ({ event, tx }) => recordFact(tx, event, { kind: 'customer_deleted', entityId: event.data.id, occurredAt: event.data.deletedAt })),
      on(pageViewed, ({ event, tx }) => recordFact(tx, event, {
        kind: 'page_viewed', entityId: event.data.id, occurredAt: event.data.viewedAt, ...(event.data.productId ? { productId: event.data.productId } : {}),
      })),
    ];
    return { handlers, routes: analyticsRoutes({ db: ctx.pool, producer: ctx.producer }) };
  },
  audit: analyticsAudit,
};
