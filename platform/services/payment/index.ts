/**
 * Payment: owns payments and refunds against orders, with a simulated payment service
 * provider (PSP).
 *
 * Owns:      payment.payments, webhook_events, refunds (payments.ts)
 * Publishes: payment.payment.authorized | captured | failed, payment.refund.completed,
 *            payment.webhook.received (platform/contracts/payment.ts)
 * Consumes:  payment.webhook.received (its own: applies PSP notifications, webhooks.ts),
 *            return.return.received (refunds the returned units, refunds.ts)
 * Keeps a copy of: nothing; it reads an order through Order's API when a payment is
 *            authorized (amount and currency must be the order's total) and when a return is
 *            refunded (unit prices).
 * Conflict rule: a payment moves only authorized → captured | failed; PSP notifications are
 *            de-duplicated by the PSP's event id (webhook_events) and refunds by return id,
 *            so a notification or return delivered again changes nothing.
 *
 * `PAYMENT_WEBHOOK_SECRET`: when set, `POST /payment/webhooks` requires the PSP's signature
 * (`x-psp-signature: sha256=<HMAC-SHA256 of the body>`); unset, the simulated PSP's unsigned
 * notifications are taken.
 */
import type { PlatformModule } from '../../host/module.js';
import { systemErrorReported } from '../../contracts/notification.js';
import { paymentTopics } from '../../contracts/payment.js';
import { paymentMigrations } from './payments.js';
import { paymentAudit } from './probes.js';
import { refundHandler } from './refunds.js';
import { paymentRoutes } from './routes.js';
import { webhookHandler } from './webhooks.js';

export const paymentModule: PlatformModule = {
  name: 'payment',
  summary: 'Owns payments and refunds: authorizes with a simulated PSP, applies its webhooks, refunds received returns.',
  migrations: paymentMigrations,
  // its own events, and reports of the events it dead-letters (the host publishes those, platform/host/run.ts)
  publishes: [...paymentTopics, systemErrorReported],
  mount: '/payment',
  build: (ctx) => ({
    handlers: [webhookHandler(ctx.producer), refundHandler(ctx.producer, ctx.services)],
    routes: paymentRoutes({
      producer: ctx.producer, pool: ctx.pool, services: ctx.services,
      ...(process.env.PAYMENT_WEBHOOK_SECRET ? { webhookSecret: process.env.PAYMENT_WEBHOOK_SECRET } : {}),
    }),
  }),
  audit: paymentAudit,
};
