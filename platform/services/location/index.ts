/**
 * Location: owns the company's sites (warehouses, stores, pickup points). It changes them on
 * request (the HTTP API) and publishes every change through its outbox, and keeps how many
 * units of each product each warehouse holds from Warehouse's stock events.
 *
 * Owns:            location.locations (locations.ts), with the platform's default warehouse seeded by
 *                  the migration (the warehouseId of Warehouse's events) and announced once on first start
 * Publishes:       location.location.created / updated (platform/contracts/location.ts)
 * Keeps a copy of: warehouse.stock.changed → location.stock (stock.ts); stock at an unknown location is
 *                  held then dead-lettered, stock at a location that is not a warehouse dead-lettered at once.
 * Conflict rule:   the stock copy is version-based (Warehouse's version).
 */
import type { PlatformModule } from '../../host/module.js';
import { locationTopics } from '../../contracts/location.js';
import { locationAudit } from './audit.js';
import { announceSeededLocations, locationsTable } from './locations.js';
import { locationRoutes } from './routes.js';
import { stockHandlers, stockTable } from './stock.js';
import { systemErrorReported } from '../../contracts/notification.js';

export { DEFAULT_WAREHOUSE, type LocationFields } from './locations.js';

/** The Location service. */
export const locationModule: PlatformModule = {
  name: 'location',
  summary: 'Owns sites (warehouses, stores, pickup points) and keeps the units each warehouse holds from Warehouse events',
  migrations: [locationsTable, stockTable],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...locationTopics, systemErrorReported],
  mount: '/locations',
  build(ctx) {
    // the seeded default warehouse's created event, written once (the relay publishes it when it starts)
    const announced = announceSeededLocations(ctx.producer).catch((error: unknown) => { ctx.onError(error); });
    return {
      handlers: stockHandlers(),
      routes: locationRoutes({ producer: ctx.producer, db: ctx.pool }),
      async close() {
        await announced;
      },
    };
  },
  audit: locationAudit,
};
