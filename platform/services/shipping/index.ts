/**
 * Shipping: owns shipments, a package booked with a carrier from label to delivery.
 *
 * Owns:      shipping.shipments (shipments.ts)
 * Publishes: shipping.shipment.created, shipping.shipment.status-changed (platform/contracts/shipping.ts)
 * Keeps a copy of: packages (fulfillment.package.status-changed: status); a package ready for
 *            pickup or handed over is booked with a carrier once.
 * Conflict rule: the package copy is version-based (a row changes only for a higher
 *            Fulfillment version, so an older or repeated package event books nothing);
 *            shipments increment their own `version` on every tracking update, and a
 *            tracking status moves only along the carrier's lifecycle (shipments.ts, NEXT).
 */
import type { PlatformModule } from '../../host/module.js';
import { systemErrorReported } from '../../contracts/notification.js';
import { shippingTopics } from '../../contracts/shipping.js';
import { shippingAudit } from './probes.js';
import { shippingRoutes } from './routes.js';
import { packageHandler, shippingMigrations } from './shipments.js';

export const shippingModule: PlatformModule = {
  name: 'shipping',
  summary: 'Owns shipments: books a carrier for each package handed over, publishes tracking updates.',
  migrations: shippingMigrations,
  // its own events, and reports of the events it dead-letters (the host publishes those, platform/host/run.ts)
  publishes: [...shippingTopics, systemErrorReported],
  mount: '/shipping',
  build: (ctx) => ({
    handlers: [packageHandler(ctx.producer)],
    routes: shippingRoutes({ producer: ctx.producer, pool: ctx.pool }),
  }),
  audit: shippingAudit,
};
