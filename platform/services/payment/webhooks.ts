import { createHmac, timingSafeEqual } from 'node:crypto';
import { RetryLaterError } from 'datasync/core';
import { on, type Producer, type Subscription } from 'datasync/runtime';
import { paymentCaptured, paymentFailed, webhookReceived, type WebhookReceived } from '../../contracts/payment.js';
import { ApiError, invalidField } from '../../http/errors.js';
import { enumField, textField } from '../../http/fields.js';
import { eventOf, findPayment } from './payments.js';

/**
 * PSP webhooks. The endpoint checks the notification (and its signature when a secret is
 * configured), writes it to Payment's outbox as `payment.webhook.received` and answers 202 at
 * once; Payment's own consumer then applies it. The PSP's body is the simulated PSP's:
 *
 *   {"provider": "stripe"|"adyen"|"paypal", "id": "<PSP event id>", "type": "<event type>", "pspReference": "<payment's reference>",
 *    "failureCode"?: "card_declined", …anything else the PSP sends}
 *
 * Event types that change a payment: `payment.captured` (authorized → captured, publishes
 * `payment.payment.captured`) and `payment.failed` (authorized → failed with `failureCode`,
 * default `declined`, publishes `payment.payment.failed`). Any other type, or one that does not
 * fit the payment's status (a capture of a failed payment), is recorded as `ignored`.
 * Idempotent by the PSP's event id: a notification the PSP sends again is recorded once and
 * applied once. A notification for a PSP reference Payment does not know (yet) is held and
 * retried, then dead-lettered.
 */

/** Header carrying `sha256=<hex HMAC-SHA256 of the raw body>` when `PAYMENT_WEBHOOK_SECRET` is set. */
export const SIGNATURE_HEADER = 'x-psp-signature';
/** How long a webhook for an unknown payment is held before the next try. */
export const WEBHOOK_HOLD_MS = 1_000;
const PROVIDERS = ['stripe', 'adyen', 'paypal'] as const;
const FAILURE_CODE = /^[a-z0-9_.-]{1,64}$/i;

/** The signature the PSP sends for `body` under `secret`. */
export function signWebhook(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** 401 unless `signature` is `body`'s under `secret`. */
export function verifySignature(secret: string, body: string, signature: string | undefined): void {
  const expected = Buffer.from(signWebhook(secret, body));
  const given = Buffer.from(signature ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ApiError(401, 'BAD_SIGNATURE', `${SIGNATURE_HEADER}: missing or not the HMAC-SHA256 of the body under the webhook secret`, SIGNATURE_HEADER);
  }
}

/** The notification to queue, from the PSP's body; 400 naming the first bad field. */
export function parseWebhook(payload: Record<string, unknown>, receivedAt: string): Omit<WebhookReceived, 'paymentId'> {
  if (payload.failureCode !== undefined && (typeof payload.failureCode !== 'string' || !FAILURE_CODE.test(payload.failureCode))) {
    throw invalidField('failureCode', `expected a reason code such as "card_declined", got ${JSON.stringify(payload.failureCode)}`);
  }
  return {
    id: textField('id', payload.id, 255),
    provider: enumField('provider', payload.provider, PROVIDERS),
    eventType: textField('type', payload.type, 128),
    pspReference: textField('pspReference', payload.pspReference, 128),
    payload,
    receivedAt,
  };
}

/** Payment's consumer of its own webhook topic. */
export function webhookHandler(producer: Producer): Subscription<WebhookReceived> {
  return on(webhookReceived, async ({ event, tx }) => {
    const hook = event.data;
    const payment = await findPayment(tx, 'p.psp_reference = $1', hook.pspReference, true);
    if (!payment) throw new RetryLaterError(`webhook ${hook.provider}/${hook.id} (${hook.eventType}): no payment has PSP reference ${hook.pspReference}`, { delayMs: WEBHOOK_HOLD_MS });
    const to = hook.eventType === 'payment.captured' ? 'captured' : hook.eventType === 'payment.failed' ? 'failed' : undefined;
    const applies = to !== undefined && payment.status === 'authorized';
    const { rowCount } = await tx.query(
      `INSERT INTO payment.webhook_events (provider, psp_event_id, payment_id, event_type, outcome, source_event_id)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, psp_event_id) DO NOTHING`,
      [hook.provider, hook.id, payment.id, hook.eventType, applies ? 'applied' : 'ignored', event.id],
    );
    if (rowCount === 0) return 'stale'; // the PSP sent this notification before
    if (!applies) return;
    const failureCode = typeof hook.payload.failureCode === 'string' ? hook.payload.failureCode : 'declined';
    await tx.query(
      'UPDATE payment.payments SET status = $2, failure_code = $3, version = version + 1, updated_at = now() WHERE id = $1',
      [payment.id, to, to === 'failed' ? failureCode : null],
    );
    const changed = (await findPayment(tx, 'p.id = $1', payment.id))!;
    await producer.publishWithin(tx, to === 'captured' ? paymentCaptured : paymentFailed, eventOf(changed), { causationId: event.id });
  });
}
