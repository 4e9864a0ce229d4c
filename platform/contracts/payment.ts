import { defineTopic } from 'datasync/core';
import { amount, currency, oneOf, pii, record, text, timestamp, uuid, version } from './fields.js';

/**
 * Payment owns payments and refunds against orders. Order follows captures (confirmed) and
 * failures (cancelled). Payment consumes the payment service provider's webhooks, and
 * received returns (refunds).
 *
 * Webhooks: the PSP (Stripe, Adyen, …) is not a datasync service and cannot write an outbox,
 * so the topic is Payment's own, `payment.webhook.received`, not an external `psp.*` owner
 * that `datasync check` could never find a producer for. Payment's webhook endpoint verifies
 * the PSP's signature, writes the notification to its outbox and answers 2xx at once; its own
 * consumer then applies it (deduplicated by the PSP's event id, retried, dead-lettered), so a
 * slow or failing handler never makes the PSP resend or give up.
 */

/** A payment's lifecycle. */
export type PaymentStatus = 'authorized' | 'captured' | 'failed';

/** A payment after a change of status. */
export interface PaymentEvent {
  readonly id: string;
  readonly orderId: string;
  readonly status: PaymentStatus;
  readonly currency: string;
  /** Authorized or captured amount; for `failed`, the amount attempted. */
  readonly amount: string;
  readonly method: 'card' | 'paypal' | 'bank-transfer' | 'wallet';
  /** The PSP's reference for this payment. */
  readonly pspReference: string;
  /** For `failed`: the PSP's reason code. */
  readonly failureCode?: string;
  readonly version: number;
  readonly occurredAt: string;
}

/** A refund paid back to the customer. */
export interface RefundCompleted {
  readonly id: string;
  readonly paymentId: string;
  readonly orderId: string;
  /** The return it pays for, if any (return.ts). */
  readonly returnId?: string;
  readonly currency: string;
  readonly amount: string;
  readonly pspReference: string;
  readonly version: number;
  readonly completedAt: string;
}

/** A PSP notification as Payment's webhook endpoint accepted it (signature verified). */
export interface WebhookReceived {
  /** The PSP's event id; Payment's consumer deduplicates on it. */
  readonly id: string;
  readonly provider: string;
  /** The PSP's event type, e.g. `payment_intent.succeeded`. */
  readonly eventType: string;
  /** The payment it concerns, when Payment could match it. */
  readonly paymentId?: string;
  readonly pspReference: string;
  /** The PSP's body as received (no stable schema across providers; may hold billing details, so personal). */
  readonly payload: Record<string, unknown>;
  readonly receivedAt: string;
}

const paymentSchema = (status: PaymentStatus, extraRequired: readonly string[] = []) => record({
  id: uuid,
  orderId: uuid,
  status: { type: 'string', const: status },
  currency,
  amount,
  method: oneOf(['card', 'paypal', 'bank-transfer', 'wallet']),
  pspReference: text(128),
  failureCode: text(64),
  version,
  occurredAt: timestamp,
}, ['id', 'orderId', 'status', 'currency', 'amount', 'method', 'pspReference', 'version', 'occurredAt', ...extraRequired]);

const paymentEvent = (event: 'authorized' | 'captured' | 'failed', description: string) => defineTopic<PaymentEvent>({
  name: `payment.payment.${event}`,
  version: 1,
  owner: 'payment',
  subscribers: event === 'authorized' ? [] : ['order'],
  schema: paymentSchema(event, event === 'failed' ? ['failureCode'] : []),
  partitionKey: (payment) => payment.id,
  entityVersion: (payment) => payment.version,
  description,
});

/** The PSP authorized a payment for an order. */
export const paymentAuthorized = paymentEvent('authorized', 'The PSP authorized a payment for an order; funds are held, not yet taken.');
/** The authorized amount was taken. */
export const paymentCaptured = paymentEvent('captured', 'An authorized payment was captured; the money is taken.');
/** The PSP declined or the authorization expired. */
export const paymentFailed = paymentEvent('failed', 'A payment failed (declined, expired or cancelled by the PSP); carries the reason code.');

/** A refund was paid back. */
export const refundCompleted = defineTopic<RefundCompleted>({
  name: 'payment.refund.completed',
  version: 1,
  owner: 'payment',
  subscribers: [],
  schema: record({
    id: uuid, paymentId: uuid, orderId: uuid, returnId: uuid, currency, amount, pspReference: text(128), version, completedAt: timestamp,
  }, ['id', 'paymentId', 'orderId', 'currency', 'amount', 'pspReference', 'version', 'completedAt']),
  partitionKey: (refund) => refund.id,
  entityVersion: (refund) => refund.version,
  description: 'A refund was paid back to the customer through the PSP.',
});

/** A PSP webhook Payment accepted, for its own consumer (see the module comment). */
export const webhookReceived = defineTopic<WebhookReceived>({
  name: 'payment.webhook.received',
  version: 1,
  owner: 'payment',
  subscribers: ['payment'],
  schema: record({
    id: text(255),
    provider: oneOf(['stripe', 'adyen', 'paypal']),
    eventType: text(128),
    paymentId: uuid,
    pspReference: text(128),
    payload: pii({ type: 'object' }),
    receivedAt: timestamp,
  }, ['id', 'provider', 'eventType', 'pspReference', 'payload', 'receivedAt']),
  // the PSP's payment reference: notifications about one payment stay in order
  partitionKey: (webhook) => webhook.pspReference,
  description: "A payment service provider's webhook, signature verified, queued for Payment's own consumer.",
});

/** Every topic Payment publishes. */
export const paymentTopics = [paymentAuthorized, paymentCaptured, paymentFailed, refundCompleted, webhookReceived] as const;
