import { PermanentError, RetryLaterError } from 'datasync/core';
import type { SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type Producer } from 'datasync/runtime';
import { orderPlaced, orderStatusChanged, type OrderPlaced } from '../../contracts/order.js';
import { changePoints, type Publish } from './accounts.js';

/**
 * How Loyalty earns points from orders.
 *
 * - `order.order.placed`: the order is remembered (customer, total, currency, version) until it
 *   is delivered or cancelled. Points are based on the total, so an order whose total is not
 *   subtotal - discountTotal + shippingTotal + taxTotal is refused (PermanentError): awarding
 *   on a wrong total cannot be corrected by retrying. A repeat is `stale`.
 * - `order.order.status-changed`, version-based per order (an older status is `stale`):
 *   `delivered` awards floor(total) points, 1 per whole unit of the order's currency (no
 *   exchange rates yet), once; `cancelled` after the award claws them back (as far as the
 *   balance allows: points already spent are not taken twice). A status for an order Loyalty
 *   has not seen placed is held and retried (the placed event may still be on its way), then
 *   dead-lettered with that reason. `delivered` after `cancelled` contradicts the order's
 *   lifecycle: refused (PermanentError), no points.
 *
 * Points changes are published through Loyalty's outbox in the consumer's transaction
 * (`producer.publishWithin`); each ledger row carries the id of the event behind it.
 */

/** How long a status change for an unknown order waits before its next try. */
export const HOLD_MS = 1_000;

const SCALE = 4;

/** A contract amount (decimal string, at most 4 decimals) in ten-thousandths. */
function units(amount: string): bigint {
  const [whole, fraction = ''] = amount.split('.');
  return BigInt(whole!) * 10n ** BigInt(SCALE) + BigInt(fraction.padEnd(SCALE, '0'));
}

function formatUnits(value: bigint): string {
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  const whole = abs / 10n ** BigInt(SCALE);
  const fraction = (abs % 10n ** BigInt(SCALE)).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Undefined if the order's total adds up, else why not. */
export function totalMismatch(order: OrderPlaced): string | undefined {
  const expected = units(order.subtotal) - units(order.discountTotal) + units(order.shippingTotal) + units(order.taxTotal);
  if (expected === units(order.total)) return undefined;
  return `total ${order.total} is not subtotal ${order.subtotal} - discountTotal ${order.discountTotal} + shippingTotal ${order.shippingTotal} + taxTotal ${order.taxTotal} = ${formatUnits(expected)}`;
}

/** Points an order earns: one per whole currency unit of its total. */
export function pointsFor(total: string): number {
  return Number(total.split('.')[0]);
}

interface OrderRow {
  order_id: string;
  customer_id: string;
  total: string;
  status: string;
  version: number;
  points_awarded: number;
  points_clawed_back: number;
}

export function orderHandlers(producer: Producer): AnySubscription[] {
  const outbox = (tx: SqlExecutor, causationId: string): Publish => (topic, data) => producer.publishWithin(tx, topic, data, { causationId });

  return [
    on(orderPlaced, async ({ event, tx }) => {
      const order = event.data;
      const mismatch = totalMismatch(order);
      if (mismatch) throw new PermanentError(`order ${order.id}: ${mismatch}; no points can be based on it`);
      const { rowCount } = await tx.query(
        `INSERT INTO loyalty.orders (order_id, customer_id, currency, total, status, version, placed_event_id, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (order_id) DO NOTHING`,
        [order.id, order.customerId, order.currency, order.total, order.status, order.version, event.id],
      );
      return rowCount === 0 ? 'stale' : 'applied';
    }),

    on(orderStatusChanged, async ({ event, tx }) => {
      const change = event.data;
      const { rows: [order] } = await tx.query<OrderRow>(
        'SELECT order_id, customer_id, total::text AS total, status, version, points_awarded, points_clawed_back FROM loyalty.orders WHERE order_id = $1 FOR UPDATE',
        [change.id],
      );
      if (!order) throw new RetryLaterError(`order ${change.id} is unknown to Loyalty (its order.order.placed has not arrived): held`, { delayMs: HOLD_MS });
      if (order.version >= change.version) return 'stale';
      if (change.status === 'delivered' && order.status === 'cancelled') {
        throw new PermanentError(`order ${change.id} was cancelled (version ${order.version}) and is now reported delivered (version ${change.version}): no points awarded; the order needs a look`);
      }
      await tx.query('UPDATE loyalty.orders SET status = $2, version = $3, updated_at = now() WHERE order_id = $1', [change.id, change.status, change.version]);
      const publish = outbox(tx, event.id);
      if (change.status === 'delivered' && order.points_awarded === 0) {
        const points = pointsFor(order.total);
        if (points > 0) {
          await changePoints(tx, publish, { customerId: order.customer_id, delta: points, reason: 'order', orderId: order.order_id, sourceEventId: event.id });
          await tx.query('UPDATE loyalty.orders SET points_awarded = $2 WHERE order_id = $1', [order.order_id, points]);
        }
      }
      if (change.status === 'cancelled' && order.points_awarded > order.points_clawed_back) {
        const { rows: [account] } = await tx.query<{ balance: number }>('SELECT balance FROM loyalty.accounts WHERE customer_id = $1', [order.customer_id]);
        const points = Math.min(order.points_awarded - order.points_clawed_back, account?.balance ?? 0);
        if (points > 0) {
          await changePoints(tx, publish, { customerId: order.customer_id, delta: -points, reason: 'order', orderId: order.order_id, note: 'order cancelled after delivery', sourceEventId: event.id });
        }
        await tx.query('UPDATE loyalty.orders SET points_clawed_back = points_awarded WHERE order_id = $1', [order.order_id]);
      }
      return 'applied';
    }),
  ];
}
