import { PermanentError, RetryLaterError } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type HandlerResult, type Producer } from 'datasync/runtime';
import { fulfillmentStatusChanged, type FulfillmentStatusChanged } from '../../contracts/fulfillment.js';
import { orderPlaced, orderStatusChanged } from '../../contracts/order.js';
import { returnReceived } from '../../contracts/return.js';
import { stockChanged } from '../../contracts/warehouse.js';
import { productStates } from './products.js';
import { changeStock, InsufficientStockError, lockStock, type StockEffects } from './stock.js';
import type { StockViews } from './view.js';

/**
 * How orders, fulfillments and returns move Warehouse's stock:
 * - order.order.placed: each line reserves up to the units available (a reservation row per
 *   line records what was asked and what was held); publishes `reserved`.
 * - order.order.status-changed to `cancelled`: the order's outstanding reservations are
 *   released (`released`); an order cancelled before its placement arrived reserves nothing.
 * - fulfillment.fulfillment.status-changed to `shipped`: the shipped units leave on hand, taken
 *   first from the order's reservations, then from what is available (`shipped`); to
 *   `cancelled`: the order's outstanding reservations for its lines are released.
 * - return.return.received: resellable units go back on hand (`returned`); damaged ones do not.
 *
 * Idempotency beyond the runtime's event ids: one placement, one cancellation, one shipment
 * per fulfillment and one receipt per return take effect, whatever events repeat them.
 * Referential rule: a line for a product Warehouse does not know, or a shipment of an order
 * whose placement has not arrived, is held (RetryLaterError) and then dead-lettered naming it.
 * A shipment of more units than reserved and available is dead-lettered (stock never negative).
 */

/** Reservations and the markers of what took effect. */
export const orderTables: Migration = {
  id: 'warehouse_0004_reservations',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.reservations (
    order_id    uuid NOT NULL,
    line_no     integer NOT NULL,
    product_id  uuid NOT NULL,
    requested   integer NOT NULL CHECK (requested > 0),
    reserved    integer NOT NULL CHECK (reserved >= 0 AND reserved <= requested),
    shipped     integer NOT NULL DEFAULT 0 CHECK (shipped >= 0),
    released    integer NOT NULL DEFAULT 0 CHECK (released >= 0),
    event_id    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, line_no),
    CHECK (shipped + released <= reserved)
  );
  CREATE INDEX IF NOT EXISTS reservations_product ON {schema}.reservations (product_id);
  CREATE TABLE IF NOT EXISTS {schema}.cancelled_orders (
    order_id      uuid PRIMARY KEY,
    event_id      text NOT NULL,
    cancelled_at  timestamptz NOT NULL
  );
  CREATE TABLE IF NOT EXISTS {schema}.fulfillment_changes (
    fulfillment_id  uuid NOT NULL,
    status          text NOT NULL,
    order_id        uuid NOT NULL,
    event_id        text NOT NULL,
    PRIMARY KEY (fulfillment_id, status)
  );
  CREATE TABLE IF NOT EXISTS {schema}.received_returns (
    return_id    uuid PRIMARY KEY,
    order_id     uuid NOT NULL,
    event_id     text NOT NULL,
    received_at  timestamptz NOT NULL
  )`,
};

/** How long a held event waits before its next attempt. */
export const HOLD_DELAY_MS = 1_000;

function attempts(attempt: number): string {
  return `held ${attempt} attempt${attempt === 1 ? '' : 's'}`;
}

/** Throws RetryLaterError naming the first of `productIds` Warehouse does not know. */
async function requireKnownProducts(tx: SqlExecutor, productIds: readonly string[], what: string, attempt: number): Promise<void> {
  const states = await productStates(tx, productIds);
  const unknown = productIds.find((id) => states.get(id) === 'unknown');
  if (unknown !== undefined) {
    throw new RetryLaterError(`${what}: product ${unknown} is unknown to Warehouse (no catalog.product.created for it yet): ${attempts(attempt)}`, { delayMs: HOLD_DELAY_MS });
  }
}

/** Outstanding reservations (reserved, neither shipped nor released) of the order, for `productId` or all, locked, oldest line first. */
async function outstanding(tx: SqlExecutor, orderId: string, productId?: string): Promise<{ line_no: number; product_id: string; units: number }[]> {
  const { rows } = await tx.query<{ line_no: number; product_id: string; units: number }>(
    `SELECT line_no, product_id, reserved - shipped - released AS units FROM warehouse.reservations
     WHERE order_id = $1 AND ($2::uuid IS NULL OR product_id = $2) AND reserved - shipped - released > 0
     ORDER BY product_id, line_no FOR UPDATE`,
    [orderId, productId ?? null],
  );
  return rows;
}

/** Releases up to `limit` outstanding units of each (product, line) given; one stock change per product. */
async function release(
  tx: SqlExecutor, effects: StockEffects, orderId: string, lines: readonly { product_id: string; line_no: number; units: number }[],
  source: { source: string; refId: string; eventId: string },
): Promise<number> {
  const perProduct = new Map<string, number>();
  for (const line of lines) {
    if (line.units <= 0) continue;
    await tx.query('UPDATE warehouse.reservations SET released = released + $3 WHERE order_id = $1 AND line_no = $2', [orderId, line.line_no, line.units]);
    perProduct.set(line.product_id, (perProduct.get(line.product_id) ?? 0) + line.units);
  }
  for (const [productId, units] of [...perProduct].sort(([a], [b]) => a.localeCompare(b))) {
    await changeStock(tx, effects, productId, { onHand: 0, reserved: -units, reason: 'released' }, source);
  }
  return perProduct.size;
}

/** Units per product of `lines`, in product id order (the order rows are locked in, so concurrent handlers cannot deadlock). */
function unitsPerProduct(lines: readonly { readonly productId: string; readonly quantity: number }[]): [string, number][] {
  const units = new Map<string, number>();
  for (const line of lines) units.set(line.productId, (units.get(line.productId) ?? 0) + line.quantity);
  return [...units].sort(([a], [b]) => a.localeCompare(b));
}

/** The handlers of order, fulfillment and return events. */
export function orderHandlers(producer: Producer, views: StockViews): AnySubscription[] {
  const effects = (tx: SqlExecutor, causationId: string): StockEffects => ({
    publish: (stock) => producer.publishWithin(tx, stockChanged, stock, { causationId }),
    viewChanged: views.changed,
  });

  async function ship(tx: SqlExecutor, change: FulfillmentStatusChanged, eventId: string): Promise<void> {
    const source = { source: fulfillmentStatusChanged.name, refId: change.id, eventId };
    for (const [productId, quantity] of unitsPerProduct(change.lines)) {
      const held = await outstanding(tx, change.orderId, productId);
      let left = quantity;
      let fromReserved = 0;
      for (const reservation of held) {
        const take = Math.min(left, reservation.units);
        if (take === 0) break;
        await tx.query('UPDATE warehouse.reservations SET shipped = shipped + $3 WHERE order_id = $1 AND line_no = $2', [change.orderId, reservation.line_no, take]);
        fromReserved += take;
        left -= take;
      }
      try {
        await changeStock(tx, effects(tx, eventId), productId, { onHand: -quantity, reserved: -fromReserved, reason: 'shipped' }, source);
      } catch (error) {
        if (!(error instanceof InsufficientStockError)) throw error;
        throw new PermanentError(
          `fulfillment ${change.id} ships ${quantity} units of product ${productId} for order ${change.orderId}: `
          + `${fromReserved} were reserved for it and only ${error.available} more are available`,
        );
      }
    }
  }

  return [
    on(orderPlaced, async ({ event, tx, attempt }): Promise<HandlerResult> => {
      const order = event.data;
      const { rows: [seen] } = await tx.query<{ cancelled: boolean; placed: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM warehouse.cancelled_orders WHERE order_id = $1) AS cancelled,
                EXISTS (SELECT 1 FROM warehouse.reservations WHERE order_id = $1) AS placed`,
        [order.id],
      );
      if (seen!.cancelled || seen!.placed) return 'stale';
      await requireKnownProducts(tx, [...new Set(order.lines.map((line) => line.productId))], `order ${order.id}`, attempt);
      const source = { source: orderPlaced.name, refId: order.id, eventId: event.id };
      // lock products in one order, so concurrent orders cannot deadlock
      const lines = order.lines.map((line, index) => ({ ...line, index })).sort((a, b) => a.productId.localeCompare(b.productId) || a.index - b.index);
      for (const line of lines) {
        const stock = await lockStock(tx, line.productId);
        const take = Math.min(line.quantity, stock?.available ?? 0);
        await tx.query(
          'INSERT INTO warehouse.reservations (order_id, line_no, product_id, requested, reserved, event_id) VALUES ($1, $2, $3, $4, $5, $6)',
          [order.id, line.index, line.productId, line.quantity, take, event.id],
        );
        if (take > 0) await changeStock(tx, effects(tx, event.id), line.productId, { onHand: 0, reserved: take, reason: 'reserved' }, source);
      }
      return 'applied';
    }),

    on(orderStatusChanged, async ({ event, tx }): Promise<HandlerResult> => {
      const change = event.data;
      if (change.status !== 'cancelled') return 'applied'; // only a cancellation changes stock
      const { rowCount } = await tx.query(
        'INSERT INTO warehouse.cancelled_orders (order_id, event_id, cancelled_at) VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING',
        [change.id, event.id, change.changedAt],
      );
      if (rowCount === 0) return 'stale';
      await release(tx, effects(tx, event.id), change.id, await outstanding(tx, change.id), { source: orderStatusChanged.name, refId: change.id, eventId: event.id });
      return 'applied';
    }),

    on(fulfillmentStatusChanged, async ({ event, tx, attempt }): Promise<HandlerResult> => {
      const change = event.data;
      if (change.status !== 'shipped' && change.status !== 'cancelled') return 'applied'; // picking and packing change no stock
      const { rowCount } = await tx.query(
        'INSERT INTO warehouse.fulfillment_changes (fulfillment_id, status, order_id, event_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
        [change.id, change.status, change.orderId, event.id],
      );
      if (rowCount === 0) return 'stale';
      const { rows: [placed] } = await tx.query<{ known: boolean }>('SELECT EXISTS (SELECT 1 FROM warehouse.reservations WHERE order_id = $1) AS known', [change.orderId]);
      if (!placed!.known) {
        throw new RetryLaterError(`fulfillment ${change.id}: order ${change.orderId} has not reached Warehouse (no order.order.placed for it yet): ${attempts(attempt)}`, { delayMs: HOLD_DELAY_MS });
      }
      if (change.status === 'shipped') {
        await ship(tx, change, event.id);
        return 'applied';
      }
      const lines: { product_id: string; line_no: number; units: number }[] = [];
      for (const [productId, quantity] of unitsPerProduct(change.lines)) {
        let left = quantity;
        for (const reservation of await outstanding(tx, change.orderId, productId)) {
          const units = Math.min(left, reservation.units);
          lines.push({ ...reservation, units });
          left -= units;
        }
      }
      await release(tx, effects(tx, event.id), change.orderId, lines, { source: fulfillmentStatusChanged.name, refId: change.id, eventId: event.id });
      return 'applied';
    }),

    on(returnReceived, async ({ event, tx, attempt }): Promise<HandlerResult> => {
      const received = event.data;
      const resellable = received.lines.filter((line) => line.condition === 'resellable');
      await requireKnownProducts(tx, [...new Set(resellable.map((line) => line.productId))], `return ${received.id}`, attempt);
      const { rowCount } = await tx.query(
        'INSERT INTO warehouse.received_returns (return_id, order_id, event_id, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
        [received.id, received.orderId, event.id, received.receivedAt],
      );
      if (rowCount === 0) return 'stale';
      const source = { source: returnReceived.name, refId: received.id, eventId: event.id };
      for (const [productId, quantity] of unitsPerProduct(resellable)) {
        await changeStock(tx, effects(tx, event.id), productId, { onHand: quantity, reserved: 0, reason: 'returned' }, source);
      }
      return 'applied';
    }),
  ];
}
