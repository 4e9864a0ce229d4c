import { PermanentError, RetryLaterError } from 'datasync/core';
import type { SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type HandlerResult, type Producer } from 'datasync/runtime';
import { productCreated, productDeleted, productUpdated, type Product } from '../../contracts/catalog.js';
import { customerCreated, customerDeleted, customerUpdated, type Customer } from '../../contracts/customer.js';
import type { OrderStatus } from '../../contracts/order.js';
import { paymentCaptured, paymentFailed } from '../../contracts/payment.js';
import { priceUpdated } from '../../contracts/pricing.js';
import { shipmentStatusChanged, type ShipmentStatus } from '../../contracts/shipping.js';
import { toMinorUnits } from '../../contracts/money.js';
import { canMove, moveOrder, readOrder, type Publish } from './orders.js';

/**
 * What Order consumes. Copies (products, prices, customers) are version-based: a row is
 * replaced only by a higher owner version, so a redelivered older event changes nothing.
 * Payment and shipment events move an order forward along its lifecycle and never back (see
 * the rules at each handler); each move is one `status_history` row naming the event's entity
 * (`<topic>:<id>`), published as `order.order.status-changed` through Order's outbox in the
 * handler's transaction.
 */

/** How long an event about an order Order does not know yet is held before the next try (4 tries, then the dead letter). */
export const HOLD_MS = 1_000;

async function upsertProduct(tx: SqlExecutor, product: { id: string; sku: string | null; status: string | null; deleted: boolean; version: number }, eventId: string): Promise<HandlerResult> {
  const { rowCount } = await tx.query(
    `INSERT INTO "order".products AS p (product_id, sku, status, deleted, version, event_id) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (product_id) DO UPDATE SET sku = coalesce(EXCLUDED.sku, p.sku), status = coalesce(EXCLUDED.status, p.status),
       deleted = EXCLUDED.deleted, version = EXCLUDED.version, event_id = EXCLUDED.event_id, updated_at = now()
     WHERE p.version < EXCLUDED.version`,
    [product.id, product.sku, product.status, product.deleted, product.version, eventId],
  );
  return rowCount === 1 ? 'applied' : 'stale';
}

async function upsertCustomer(tx: SqlExecutor, customer: Customer | { id: string; version: number }, eventId: string): Promise<HandlerResult> {
  const profile = 'email' in customer ? customer : undefined;
  const name = profile ? [profile.firstName, profile.lastName].filter((part) => part !== undefined && part !== '').join(' ') : '';
  const { rowCount } = await tx.query(
    `INSERT INTO "order".customers AS c (customer_id, email, recipient_name, shipping_address, deleted, version, event_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (customer_id) DO UPDATE SET email = EXCLUDED.email, recipient_name = EXCLUDED.recipient_name,
       shipping_address = EXCLUDED.shipping_address, deleted = EXCLUDED.deleted, version = EXCLUDED.version, event_id = EXCLUDED.event_id, updated_at = now()
     WHERE c.version < EXCLUDED.version`,
    [customer.id, profile?.email ?? null, name === '' ? null : name,
      profile?.defaultShippingAddress ? JSON.stringify(profile.defaultShippingAddress) : null, profile === undefined, customer.version, eventId],
  );
  return rowCount === 1 ? 'applied' : 'stale';
}

/** The order status a shipment status means, if any (label printed, exceptions and returns leave the order as it is). */
const ORDER_STATUS_OF_SHIPMENT: Partial<Record<ShipmentStatus, OrderStatus>> = {
  'in-transit': 'shipped',
  'out-for-delivery': 'shipped',
  delivered: 'delivered',
};

/** Order's handlers; `producer` publishes the status changes they cause. */
export function orderHandlers(producer: Producer): AnySubscription[] {
  const product = (data: Product, eventId: string, tx: SqlExecutor) => upsertProduct(tx, { id: data.id, sku: data.sku, status: data.status, deleted: false, version: data.version }, eventId);
  const within = (tx: SqlExecutor, causationId: string): Publish => (topic, data) => producer.publishWithin(tx, topic, data, { causationId });
  return [
    on(productCreated, ({ event, tx }) => product(event.data, event.id, tx)),
    on(productUpdated, ({ event, tx }) => product(event.data, event.id, tx)),
    on(productDeleted, ({ event, tx }) => upsertProduct(tx, { id: event.data.id, sku: null, status: null, deleted: true, version: event.data.version }, event.id)),

    // A price may arrive before its product: it is kept, and used only once the product is known.
    on(priceUpdated, async ({ event, tx }) => {
      const price = event.data;
      if (toMinorUnits(price.amount) > toMinorUnits(price.listAmount)) {
        throw new PermanentError(`price of product ${price.productId} in ${price.currency}: amount ${price.amount} is above the list price ${price.listAmount}`);
      }
      const { rowCount } = await tx.query(
        `INSERT INTO "order".prices AS p (product_id, currency, amount, version, event_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (product_id, currency) DO UPDATE SET amount = EXCLUDED.amount, version = EXCLUDED.version, event_id = EXCLUDED.event_id, updated_at = now()
         WHERE p.version < EXCLUDED.version`,
        [price.productId, price.currency, price.amount, price.version, event.id],
      );
      return rowCount === 1 ? 'applied' : 'stale';
    }),

    on(customerCreated, ({ event, tx }) => upsertCustomer(tx, event.data, event.id)),
    on(customerUpdated, ({ event, tx }) => upsertCustomer(tx, event.data, event.id)),
    on(customerDeleted, ({ event, tx }) => upsertCustomer(tx, { id: event.data.id, version: event.data.version }, event.id)),

    // pending → confirmed. Unknown order: held, then dead-lettered. Cancelled order, another
    // payment already confirmed it, or an amount other than the total: dead-lettered (money
    // was taken that must be refunded by hand). The same payment again: nothing changes.
    on(paymentCaptured, async ({ event, tx }) => {
      const payment = event.data;
      const order = await readOrder(tx, payment.orderId, true);
      if (!order) throw new RetryLaterError(`order ${payment.orderId} of captured payment ${payment.id} is not known to Order`, { delayMs: HOLD_MS });
      const cause = `${paymentCaptured.name}:${payment.id}`;
      if (order.status === 'cancelled') {
        throw new PermanentError(`payment ${payment.id} captured ${payment.amount} ${payment.currency} for order ${order.id}, which is cancelled (${order.cancelReason ?? 'no reason'}); refund it`);
      }
      if (order.status !== 'pending') {
        const { rowCount } = await tx.query('SELECT 1 FROM "order".status_history WHERE order_id = $1 AND cause = $2', [order.id, cause]);
        if (rowCount !== 0) return 'stale';
        throw new PermanentError(`payment ${payment.id} captured ${payment.amount} ${payment.currency} for order ${order.id}, which another payment already confirmed (status ${order.status}); refund it`);
      }
      if (payment.currency !== order.currency || toMinorUnits(payment.amount) !== toMinorUnits(order.total)) {
        throw new PermanentError(`payment ${payment.id} captured ${payment.amount} ${payment.currency} for order ${order.id}, whose total is ${order.total} ${order.currency}`);
      }
      await moveOrder(tx, within(tx, event.id), order, 'confirmed', { cause, causeEventId: event.id });
    }),

    // pending → cancelled (reason payment-failed). Unknown order: held, then dead-lettered. A
    // failure once the order is paid or cancelled (e.g. a second attempt) changes nothing.
    on(paymentFailed, async ({ event, tx }) => {
      const payment = event.data;
      const order = await readOrder(tx, payment.orderId, true);
      if (!order) throw new RetryLaterError(`order ${payment.orderId} of failed payment ${payment.id} is not known to Order`, { delayMs: HOLD_MS });
      if (order.status !== 'pending') return 'stale';
      await moveOrder(tx, within(tx, event.id), order, 'cancelled', { cause: `${paymentFailed.name}:${payment.id}`, causeEventId: event.id, reason: 'payment-failed' });
    }),

    // in-transit / out-for-delivery → shipped, delivered → delivered, only forward. Unknown
    // order: held, then dead-lettered. A parcel moving for a pending or cancelled order:
    // dead-lettered (goods left for an order that was not paid or was cancelled).
    on(shipmentStatusChanged, async ({ event, tx }) => {
      const shipment = event.data;
      const order = await readOrder(tx, shipment.orderId, true);
      if (!order) throw new RetryLaterError(`order ${shipment.orderId} of shipment ${shipment.id} is not known to Order`, { delayMs: HOLD_MS });
      const to = ORDER_STATUS_OF_SHIPMENT[shipment.status];
      if (to === undefined) return;
      if (order.status === 'pending' || order.status === 'cancelled') {
        throw new PermanentError(`shipment ${shipment.id} (${shipment.trackingNumber}) is ${shipment.status} for order ${order.id}, which is ${order.status}`);
      }
      if (order.status === to || !canMove(order.status, to)) return 'stale';
      await moveOrder(tx, within(tx, event.id), order, to, { cause: `${shipmentStatusChanged.name}:${shipment.id}`, causeEventId: event.id });
    }),
  ];
}
