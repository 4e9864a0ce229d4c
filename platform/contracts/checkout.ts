import { defineTopic } from 'datasync/core';
import { amount, currency, oneOf, record, timestamp, uuid, version } from './fields.js';

/**
 * Checkout owns checkout sessions: a cart on its way to an order (address, shipping method,
 * payment). Notification sends a reminder for an abandoned session; the others are published
 * for funnel analysis. Ordered per checkout session.
 */

/** The step a checkout session reached. */
export type CheckoutStep = 'cart' | 'address' | 'shipping' | 'payment' | 'review';
const STEPS: readonly CheckoutStep[] = ['cart', 'address', 'shipping', 'payment', 'review'];

/** A checkout session was opened from a cart. */
export interface CheckoutStarted {
  readonly id: string;
  readonly cartId: string;
  /** Absent for a guest checkout. */
  readonly customerId?: string;
  readonly currency: string;
  readonly itemCount: number;
  readonly subtotal: string;
  readonly version: number;
  readonly startedAt: string;
}

/** A checkout session ended in an order. */
export interface CheckoutCompleted {
  readonly id: string;
  readonly cartId: string;
  readonly customerId?: string;
  readonly orderId: string;
  readonly currency: string;
  readonly total: string;
  readonly version: number;
  readonly completedAt: string;
}

/** A checkout session expired without an order. */
export interface CheckoutAbandoned {
  readonly id: string;
  readonly cartId: string;
  readonly customerId?: string;
  readonly lastStep: CheckoutStep;
  readonly version: number;
  readonly abandonedAt: string;
}

const owner = { owner: 'checkout', subscribers: ['notification'] } as const;

/** A checkout session was opened. */
export const checkoutStarted = defineTopic<CheckoutStarted>({
  name: 'checkout.session.started',
  version: 1,
  ...owner,
  schema: record({
    id: uuid, cartId: uuid, customerId: uuid, currency, itemCount: { type: 'integer', minimum: 1 }, subtotal: amount, version, startedAt: timestamp,
  }, ['id', 'cartId', 'currency', 'itemCount', 'subtotal', 'version', 'startedAt']),
  partitionKey: (session) => session.id,
  entityVersion: (session) => session.version,
  description: 'A customer or guest opened a checkout session for a cart.',
});

/** A checkout session ended in an order. */
export const checkoutCompleted = defineTopic<CheckoutCompleted>({
  name: 'checkout.session.completed',
  version: 1,
  ...owner,
  schema: record({
    id: uuid, cartId: uuid, customerId: uuid, orderId: uuid, currency, total: amount, version, completedAt: timestamp,
  }, ['id', 'cartId', 'orderId', 'currency', 'total', 'version', 'completedAt']),
  partitionKey: (session) => session.id,
  entityVersion: (session) => session.version,
  description: 'A checkout session ended with an order placed.',
});

/** A checkout session expired without an order. */
export const checkoutAbandoned = defineTopic<CheckoutAbandoned>({
  name: 'checkout.session.abandoned',
  version: 1,
  ...owner,
  schema: record({
    id: uuid, cartId: uuid, customerId: uuid, lastStep: oneOf(STEPS), version, abandonedAt: timestamp,
  }, ['id', 'cartId', 'lastStep', 'version', 'abandonedAt']),
  partitionKey: (session) => session.id,
  entityVersion: (session) => session.version,
  description: 'A checkout session expired without an order; carries the last step reached.',
});

/** Every topic Checkout publishes. */
export const checkoutTopics = [checkoutStarted, checkoutCompleted, checkoutAbandoned] as const;
