/**
 * Fulfillment: owns fulfillments (picking and packing a paid order in one warehouse) and the
 * packages they produce.
 *
 * Owns:      fulfillment.fulfillments, packages (fulfillments.ts)
 * Publishes: fulfillment.fulfillment.status-changed, fulfillment.package.status-changed
 *            (platform/contracts/fulfillment.ts)
 * Keeps a copy of: orders (order.order.placed: lines and shipping address;
 *            order.order.status-changed: status) and locations (location.location.*: type,
 *            name, active), consumers.ts.
 * Acts on:   an order `confirmed` → its fulfillment is created in the default warehouse
 *            (00000000-0000-4000-8000-000000000001, else the first active warehouse; held
 *            while none is known); `cancelled` → its open fulfillment is cancelled.
 * Conflict rule: copies are version-based (a row changes only for a higher owner version);
 *            fulfillments and packages increment their own `version` on every change.
 *
 * Flow: created → picking → packed (creates the package, `packed`) → shipped (the package is
 * `handed-over` to the carrier; Shipping books the shipment).
 */
import type { PlatformModule } from '../../host/module.js';
import { systemErrorReported } from '../../contracts/notification.js';
import { fulfillmentTopics } from '../../contracts/fulfillment.js';
import { fulfillmentHandlers } from './consumers.js';
import { fulfillmentMigrations } from './fulfillments.js';
import { fulfillmentAudit } from './probes.js';
import { fulfillmentRoutes } from './routes.js';

export const fulfillmentModule: PlatformModule = {
  name: 'fulfillment',
  summary: 'Owns fulfillments and packages: picks and packs confirmed orders in a warehouse, hands packages to the carrier.',
  migrations: fulfillmentMigrations,
  // its own events, and reports of the events it dead-letters (the host publishes those, platform/host/run.ts)
  publishes: [...fulfillmentTopics, systemErrorReported],
  mount: '/fulfillment',
  build: (ctx) => ({
    handlers: fulfillmentHandlers(ctx.producer),
    routes: fulfillmentRoutes({ producer: ctx.producer, pool: ctx.pool }),
  }),
  audit: fulfillmentAudit,
};
