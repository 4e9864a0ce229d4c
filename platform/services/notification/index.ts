/**
 * Notification: owns outgoing messages (email, SMS, push) and their delivery outcome, and the
 * platform's alerts. Records every system error a service reports and pages the on-call
 * channel for critical ones, reminds customers of abandoned checkouts and tells them about
 * their shipments. Delivery is simulated (messages.ts: a local mailbox table and fixed
 * failure rules); each outcome is published through its outbox, in the consumer's own
 * transaction when a consumed event caused it (`producer.publishWithin`).
 *
 * Owns:      notification.messages, notification.deliveries (the simulated provider), notification.alerts (messages.ts)
 * Publishes: notification.message.sent / failed (platform/contracts/notification.ts)
 * Keeps a copy of: the last notified version per shipment (notification.shipment_updates); acts on
 *                  notification.system-error.reported, checkout.session.abandoned, shipping.shipment.status-changed (events.ts)
 * Conflict rule: shipments version-based (an older status sends nothing); one reminder per checkout
 *                session; reports are each recorded once (runtime idempotency by event id).
 */
import { messageFailed, messageSent } from '../../contracts/notification.js';
import type { PlatformModule } from '../../host/module.js';
import { notificationAudit } from './audit.js';
import { notificationHandlers } from './events.js';
import { notificationTables, uniqueAlertReports } from './messages.js';
import { notificationRoutes } from './routes.js';

export const notificationModule: PlatformModule = {
  name: 'notification',
  summary: 'Messages and their delivery outcome (simulated provider); alerts on-call for reported system errors',
  migrations: [notificationTables, uniqueAlertReports],
  publishes: [messageSent, messageFailed],
  mount: '/notifications',
  build(ctx) {
    return {
      handlers: notificationHandlers(ctx.producer),
      routes: notificationRoutes({ producer: ctx.producer, db: ctx.pool }),
    };
  },
  audit: notificationAudit,
};
