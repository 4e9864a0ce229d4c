import { defineTopic } from 'datasync/core';
import {
  address, amount, currency, email, list, oneOf, personName, quantity, record, sku, timestamp, uuid, version, type Address,
} from './fields.js';

/**
 * Order owns orders, from placement to delivery or cancellation. Warehouse reserves stock when
 * an order is placed and releases it when it is cancelled; Fulfillment keeps the placed order
 * and starts picking when its status becomes `confirmed` (paid); Analytics reports on both.
 * Ordered per order.
 */

/** An order's lifecycle. */
export type OrderStatus = 'pending' | 'confirmed' | 'processing' | 'shipped' | 'delivered' | 'cancelled';
const ORDER_STATUSES: readonly OrderStatus[] = ['pending', 'confirmed', 'processing', 'shipped', 'delivered', 'cancelled'];

/** One line of an order: a product at the unit price charged. */
export interface OrderLine {
  readonly productId: string;
  readonly sku: string;
  readonly quantity: number;
  readonly unitPrice: string;
}

/** An order as placed. */
export interface OrderPlaced {
  readonly id: string;
  readonly customerId: string;
  /** Where order mail goes (personal). */
  readonly email: string;
  readonly status: 'pending';
  readonly currency: string;
  readonly lines: readonly OrderLine[];
  /** Sum of the lines before discounts. */
  readonly subtotal: string;
  readonly discountTotal: string;
  readonly shippingTotal: string;
  readonly taxTotal: string;
  /** What the customer pays: subtotal - discountTotal + shippingTotal + taxTotal. */
  readonly total: string;
  readonly shippingAddress: Address & { readonly recipientName: string };
  readonly checkoutId: string;
  readonly version: number;
  readonly placedAt: string;
}

/** An order's new status. */
export interface OrderStatusChanged {
  readonly id: string;
  readonly status: OrderStatus;
  readonly previousStatus: OrderStatus;
  /** Why, for `cancelled` (e.g. `payment-failed`, `customer-request`). */
  readonly reason?: string;
  readonly version: number;
  readonly changedAt: string;
}

const orderLine = record({ productId: uuid, sku, quantity, unitPrice: amount }, ['productId', 'sku', 'quantity', 'unitPrice']);

/** A customer placed an order (status `pending` until paid). */
export const orderPlaced = defineTopic<OrderPlaced>({
  name: 'order.order.placed',
  version: 1,
  owner: 'order',
  subscribers: ['warehouse', 'fulfillment', 'analytics', 'return', 'review', 'loyalty'],
  schema: record({
    id: uuid,
    customerId: uuid,
    email,
    status: { type: 'string', const: 'pending' },
    currency,
    lines: list(orderLine),
    subtotal: amount,
    discountTotal: amount,
    shippingTotal: amount,
    taxTotal: amount,
    total: amount,
    shippingAddress: address(true, { recipientName: personName }),
    checkoutId: uuid,
    version,
    placedAt: timestamp,
  }, ['id', 'customerId', 'email', 'status', 'currency', 'lines', 'subtotal', 'discountTotal', 'shippingTotal', 'taxTotal', 'total',
    'shippingAddress', 'checkoutId', 'version', 'placedAt']),
  partitionKey: (order) => order.id,
  entityVersion: (order) => order.version,
  description: 'A customer placed an order; the event carries its lines, totals and shipping address.',
});

/** An order moved to another status (confirmed when paid, cancelled, shipped, delivered, …). */
export const orderStatusChanged = defineTopic<OrderStatusChanged>({
  name: 'order.order.status-changed',
  version: 1,
  owner: 'order',
  subscribers: ['warehouse', 'fulfillment', 'analytics', 'return', 'loyalty'],
  schema: record({
    id: uuid,
    status: oneOf(ORDER_STATUSES),
    previousStatus: oneOf(ORDER_STATUSES),
    reason: { type: 'string', pattern: '^[a-z][a-z0-9-]{1,63}$' },
    version,
    changedAt: timestamp,
  }, ['id', 'status', 'previousStatus', 'version', 'changedAt']),
  partitionKey: (change) => change.id,
  entityVersion: (change) => change.version,
  description: "An order's status changed; Warehouse releases stock on `cancelled`, Fulfillment starts on `confirmed`.",
});

/** Every topic Order publishes. */
export const orderTopics = [orderPlaced, orderStatusChanged] as const;
