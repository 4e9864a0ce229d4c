/**
 * Checkout: owns checkout sessions, a cart on its way to an order.
 *
 * Owns:      checkout.sessions (sessions.ts)
 * Publishes: checkout.session.started, checkout.session.completed, checkout.session.abandoned
 *            (platform/contracts/checkout.ts)
 * Keeps a copy of: prices (pricing.price.updated) and stock (warehouse.stock.changed), to price
 *            carts and refuse items out of stock (copies.ts).
 * Conflict rule: copies are version-based (a row changes only for a higher owner version);
 *            a session's own changes increment its `version`.
 *
 * Completing a session places the order through Order's API (`POST /orders` with the session's
 * items, currency and `checkoutId` = session id): Order re-prices from its own copies and
 * returns the same order to a retried completion; the session records the order id and
 * total and publishes `checkout.session.completed`. Order's refusals (4xx) are passed on.
 */
import type { PlatformModule } from '../../host/module.js';
import { systemErrorReported } from '../../contracts/notification.js';
import { checkoutTopics } from '../../contracts/checkout.js';
import { checkoutHandlers, copyTables } from './copies.js';
import { checkoutAudit } from './probes.js';
import { checkoutRoutes } from './routes.js';
import { sessionsTable } from './sessions.js';

export const checkoutModule: PlatformModule = {
  name: 'checkout',
  summary: 'Owns checkout sessions: prices carts from its copies of prices and stock, completes them by placing the order with Order.',
  migrations: [copyTables, sessionsTable],
  // its own events, and reports of the events it dead-letters (the host publishes those, platform/host/run.ts)
  publishes: [...checkoutTopics, systemErrorReported],
  mount: '/checkout',
  build: (ctx) => ({
    handlers: checkoutHandlers(),
    routes: checkoutRoutes({ producer: ctx.producer, pool: ctx.pool, services: ctx.services }),
  }),
  audit: checkoutAudit,
};
