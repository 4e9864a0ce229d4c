/**
 * Return: owns returns (RMAs), lines of a delivered order a customer sends back.
 *
 * Owns:      "return".returns (returns.ts)
 * Publishes: return.return.requested, return.return.received (platform/contracts/return.ts;
 *            Warehouse restocks and Payment refunds on `received`)
 * Keeps a copy of: orders (order.order.placed: customer and lines; order.order.status-changed:
 *            status, and when it was delivered).
 * Conflict rule: the order copy is version-based (a status applies only above the copy's
 *            version, so an older or repeated change does nothing); a status change before the
 *            placement is held, then dead-lettered. A return's own changes increment its `version`.
 *
 * Rules: only delivered orders, within 30 days of delivery; per product at most the units
 * ordered less those in earlier returns; received once, at most the units requested.
 */
import type { PlatformModule } from '../../host/module.js';
import { systemErrorReported } from '../../contracts/notification.js';
import { returnTopics } from '../../contracts/return.js';
import { returnAudit } from './probes.js';
import { returnHandlers, returnMigrations } from './returns.js';
import { returnRoutes } from './routes.js';

export const returnModule: PlatformModule = {
  name: 'return',
  summary: 'Owns returns of delivered orders: checks them against its copy of orders, records what arrives for restock and refund.',
  migrations: returnMigrations,
  // its own events, and reports of the events it dead-letters (the host publishes those, platform/host/run.ts)
  publishes: [...returnTopics, systemErrorReported],
  mount: '/returns',
  build: (ctx) => ({
    handlers: returnHandlers(),
    routes: returnRoutes({ producer: ctx.producer, pool: ctx.pool }),
  }),
  audit: returnAudit,
};
