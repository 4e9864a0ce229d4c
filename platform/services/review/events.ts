import type { CloudEvent } from 'datasync';
import { RetryLaterError } from 'datasync/core';
import type { SqlExecutor } from 'datasync/postgres';
import { applyIfNewer, on, type AnySubscription } from 'datasync/runtime';
import { productCreated, productDeleted, productUpdated, type Product } from '../../contracts/catalog.js';
import { orderPlaced } from '../../contracts/order.js';

/**
 * What Review keeps of other services' data.
 *
 * - Catalog's products (`review.products`), version-based with datasync's `applyIfNewer`: an
 *   older event is `stale`; a deletion leaves a tombstone with its version. `POST /reviews`
 *   refuses a product that is not in the copy or is deleted.
 * - Purchases from `order.order.placed`: a row per product of the order (it carries the
 *   event id), so a review by that customer of that product is a verified purchase. An order
 *   naming a product Review's copy has never seen is held and retried (the product event may
 *   still be on its way), then dead-lettered with that reason; a deleted product was real, so
 *   its purchase counts.
 */

/** How long an order naming an unknown product waits before its next try. */
export const HOLD_MS = 1_000;

function keepProduct(tx: SqlExecutor, event: CloudEvent<{ id: string }>, data: Product | null): Promise<'applied' | 'stale'> {
  return applyIfNewer(tx, { schema: 'review', table: 'products', id: event.data.id, version: event.entityversion, eventTime: event.time, eventId: event.id, data });
}

export const reviewHandlers: readonly AnySubscription[] = [
  on(productCreated, ({ event, tx }) => keepProduct(tx, event, event.data)),
  on(productUpdated, ({ event, tx }) => keepProduct(tx, event, event.data)),
  on(productDeleted, ({ event, tx }) => keepProduct(tx, event, null)),

  on(orderPlaced, async ({ event, tx }) => {
    const order = event.data;
    const productIds = [...new Set(order.lines.map((line) => line.productId))];
    const { rows } = await tx.query<{ id: string }>('SELECT id FROM review.products WHERE id = ANY($1::text[])', [productIds]);
    const known = new Set(rows.map((row) => row.id));
    const unknown = productIds.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new RetryLaterError(`order ${order.id} names product${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')} unknown to Review's copy of the catalog: held for the product event`, { delayMs: HOLD_MS });
    }
    await tx.query(
      `INSERT INTO review.purchases (order_id, customer_id, product_id, placed_at, event_id)
       SELECT $1, $2, product_id, $4, $5 FROM unnest($3::uuid[]) AS product_id`,
      [order.id, order.customerId, productIds, order.placedAt, event.id],
    );
    return 'applied';
  }),
];
