/**
 * Order: owns orders, from placement to delivery or cancellation.
 *
 * Owns:      "order".orders, order_lines, status_history (orders.ts, tables.ts)
 * Publishes: order.order.placed, order.order.status-changed (platform/contracts/order.ts)
 * Keeps a copy of: products (catalog.product.*: SKU, status, deleted), prices
 *            (pricing.price.updated: per product and currency), customers (customer.customer.*:
 *            email, name, default shipping address), to place orders without asking the owners.
 * Acts on:   payment.payment.captured (pending → confirmed), payment.payment.failed
 *            (pending → cancelled, reason payment-failed), shipping.shipment.status-changed
 *            (→ shipped, → delivered); rules in consumers.ts.
 * Conflict rule: copies are version-based (a row changes only for a higher owner version);
 *            an order's status only moves forward (orders.ts, NEXT), so an older or repeated
 *            payment or shipment event changes nothing. Every change of an order increments
 *            its `version`.
 *
 * Placing: `POST /orders` `{"customerId", "items": [{"productId", "quantity"}]}` with optional
 * `currency` (default EUR, else a currency every item is priced in), `shippingAddress`
 * (default the customer's default address, to their name) and `checkoutId` (set by Checkout;
 * a direct order's `checkoutId` is its own id; a repeated `checkoutId` returns the order
 * already placed). Totals are decimal strings: subtotal = Σ quantity × unit price, discount 0,
 * shipping free from 50.00 else 4.90, tax 0 (prices include tax), total = subtotal + shipping.
 */
import type { PlatformModule } from '../../host/module.js';
import { systemErrorReported } from '../../contracts/notification.js';
import { orderTopics } from '../../contracts/order.js';
import { orderHandlers } from './consumers.js';
import { orderAudit } from './probes.js';
import { orderRoutes } from './routes.js';
import { orderMigrations } from './tables.js';

export const orderModule: PlatformModule = {
  name: 'order',
  summary: 'Owns orders: places them from its copies of products, prices and customers; confirms on payment, follows the shipment.',
  migrations: orderMigrations,
  // its own events, and reports of the events it dead-letters (the host publishes those, platform/host/run.ts)
  publishes: [...orderTopics, systemErrorReported],
  mount: '/orders',
  build: (ctx) => ({
    handlers: orderHandlers(ctx.producer),
    routes: orderRoutes({ producer: ctx.producer, pool: ctx.pool }),
  }),
  audit: orderAudit,
};
