import { RetryLaterError } from 'datasync/core';
import type { SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type HandlerResult, type Producer } from 'datasync/runtime';
import { locationCreated, locationUpdated, type Location } from '../../contracts/location.js';
import { orderPlaced, orderStatusChanged } from '../../contracts/order.js';
import type { Publish } from '../order/orders.js';
import { cancelFulfillment, createFulfillment, FULFILLMENT_HOLD_MS, type PickLine } from './fulfillments.js';

/**
 * What Fulfillment consumes. Copies of orders (lines, address, status) and locations are
 * version-based: a row changes only for a higher owner version, so an older or repeated event
 * changes nothing. A status change for an order whose placement has not arrived yet is held
 * and retried (the two topics are consumed independently), then dead-lettered.
 * `confirmed` creates the order's fulfillment (once per order); `cancelled` cancels it unless
 * it has shipped (dead-lettered then: the parcel must be stopped by hand).
 */

async function upsertLocation(tx: SqlExecutor, location: Location, eventId: string): Promise<HandlerResult> {
  const { rowCount } = await tx.query(
    `INSERT INTO fulfillment.locations AS l (id, type, name, active, version, event_id) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET type = EXCLUDED.type, name = EXCLUDED.name, active = EXCLUDED.active, version = EXCLUDED.version,
       event_id = EXCLUDED.event_id, updated_at = now()
     WHERE l.version < EXCLUDED.version`,
    [location.id, location.type, location.name, location.active, location.version, eventId],
  );
  return rowCount === 1 ? 'applied' : 'stale';
}

/** Fulfillment's handlers; `producer` publishes what they cause. */
export function fulfillmentHandlers(producer: Producer): AnySubscription[] {
  const within = (tx: SqlExecutor, causationId: string): Publish => (topic, data) => producer.publishWithin(tx, topic, data, { causationId });
  return [
    on(orderPlaced, async ({ event, tx }) => {
      const order = event.data;
      const { rowCount } = await tx.query(
        `INSERT INTO fulfillment.orders (id, status, lines, ship_to, version, event_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
        [order.id, order.status, JSON.stringify(order.lines.map(({ productId, quantity }) => ({ productId, quantity }))), JSON.stringify(order.shippingAddress), order.version, event.id],
      );
      return rowCount === 1 ? 'applied' : 'stale';
    }),
    on(orderStatusChanged, async ({ event, tx }) => {
      const change = event.data;
      const { rows: [order] } = await tx.query<{ version: number; lines: PickLine[] }>('SELECT version, lines FROM fulfillment.orders WHERE id = $1 FOR UPDATE', [change.id]);
      if (!order) throw new RetryLaterError(`order ${change.id} is ${change.status}, but Fulfillment has not received its placement`, { delayMs: FULFILLMENT_HOLD_MS });
      if (order.version >= change.version) return 'stale';
      await tx.query('UPDATE fulfillment.orders SET status = $2, version = $3, event_id = $4, updated_at = now() WHERE id = $1', [change.id, change.status, change.version, event.id]);
      if (change.status === 'confirmed') await createFulfillment(tx, within(tx, event.id), { id: change.id, lines: order.lines }, event.id);
      if (change.status === 'cancelled') await cancelFulfillment(tx, within(tx, event.id), change.id);
    }),
    on(locationCreated, ({ event, tx }) => upsertLocation(tx, event.data, event.id)),
    on(locationUpdated, ({ event, tx }) => upsertLocation(tx, event.data, event.id)),
  ];
}
