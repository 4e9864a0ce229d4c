import { randomUUID } from 'node:crypto';
import { RetryLaterError } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type ProducerTransaction } from 'datasync/runtime';
import { DEFAULT_WAREHOUSE_ID } from '../../contracts/location.js';
import { orderPlaced, orderStatusChanged, type OrderStatus } from '../../contracts/order.js';
import { returnReceived, returnRequested, type ReturnReason, type ReturnReceived } from '../../contracts/return.js';
import { ApiError } from '../../http/errors.js';

/**
 * Return's own data: returns (RMAs) of delivered orders, beside its copy of orders (lines,
 * customer, status, when delivered). A return is requested for lines of a delivered order,
 * within {@link RETURN_WINDOW_DAYS} days of delivery, for at most the units ordered less those
 * already in other returns; it is received once, at a warehouse, with each line's condition.
 */

/** Days after delivery a return may be requested. */
export const RETURN_WINDOW_DAYS = 30;
/** Where returns are received when the request names no warehouse. */
export const DEFAULT_RETURNS_WAREHOUSE_ID = DEFAULT_WAREHOUSE_ID;
/** How long a status change is held while the order's placement has not arrived. */
export const RETURN_HOLD_MS = 1_000;

/** Return's tables (schema `return`, a reserved word in SQL: always written `"return"`). */
export const returnMigrations: readonly Migration[] = [{
  id: 'return_0001_tables',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.orders (
    id            uuid PRIMARY KEY,
    customer_id   uuid NOT NULL,
    status        text NOT NULL,
    lines         jsonb NOT NULL,
    delivered_at  timestamptz,
    version       integer NOT NULL,
    event_id      text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS {schema}.returns (
    id              uuid PRIMARY KEY,
    order_id        uuid NOT NULL,
    customer_id     uuid NOT NULL,
    status          text NOT NULL CHECK (status IN ('requested', 'received')),
    lines           jsonb NOT NULL,
    comment         text,
    warehouse_id    uuid,
    received_lines  jsonb,
    version         integer NOT NULL,
    requested_at    timestamptz NOT NULL,
    received_at     timestamptz
  );
  CREATE INDEX IF NOT EXISTS returns_order ON {schema}.returns (order_id)`,
}];

/** A line to return. */
export interface ReturnLine { readonly productId: string; readonly quantity: number; readonly reason: ReturnReason }
/** A line as received. */
export interface ReceivedLine { readonly productId: string; readonly quantity: number; readonly condition: 'resellable' | 'damaged' }

/** A return as the API shows it. */
export interface ReturnView {
  readonly id: string;
  readonly orderId: string;
  readonly customerId: string;
  readonly status: 'requested' | 'received';
  readonly lines: readonly ReturnLine[];
  readonly comment?: string;
  readonly warehouseId?: string;
  readonly receivedLines?: readonly ReceivedLine[];
  readonly version: number;
  readonly requestedAt: string;
  readonly receivedAt?: string;
}

interface ReturnRow {
  id: string; order_id: string; customer_id: string; status: ReturnView['status']; lines: ReturnLine[]; comment: string | null;
  warehouse_id: string | null; received_lines: ReceivedLine[] | null; version: number; requested_at: Date; received_at: Date | null;
}
const COLUMNS = 'id::text, order_id::text, customer_id::text, status, lines, comment, warehouse_id::text, received_lines, version, requested_at, received_at';

function toView(row: ReturnRow): ReturnView {
  return {
    id: row.id, orderId: row.order_id, customerId: row.customer_id, status: row.status, lines: row.lines,
    ...(row.comment === null ? {} : { comment: row.comment }), ...(row.warehouse_id === null ? {} : { warehouseId: row.warehouse_id }),
    ...(row.received_lines === null ? {} : { receivedLines: row.received_lines }), version: row.version, requestedAt: row.requested_at.toISOString(),
    ...(row.received_at === null ? {} : { receivedAt: row.received_at.toISOString() }),
  };
}

/** The return `id`, or a 404 naming `id`. */
export async function readReturn(db: SqlExecutor, id: string, lock = false): Promise<ReturnView> {
  const { rows: [row] } = await db.query<ReturnRow>(`SELECT ${COLUMNS} FROM "return".returns WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  if (!row) throw new ApiError(404, 'NOT_FOUND', `id: no return ${id}`, 'id');
  return toView(row);
}

interface OrderCopy { customer_id: string; status: OrderStatus; lines: { productId: string; quantity: number }[]; delivered_at: Date | null }

/** What of an order can still be returned: per product, units ordered and units not yet in a return. */
export interface Returnable {
  readonly orderId: string;
  readonly status: OrderStatus;
  readonly deliveredAt?: string;
  readonly lines: readonly { readonly productId: string; readonly ordered: number; readonly returnable: number }[];
}

async function orderCopy(db: SqlExecutor, orderId: string, lock: boolean): Promise<OrderCopy | undefined> {
  const { rows: [order] } = await db.query<OrderCopy>(`SELECT customer_id::text, status, lines, delivered_at FROM "return".orders WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [orderId]);
  return order;
}

/** Units of each product of the order already in returns. */
async function alreadyReturned(db: SqlExecutor, orderId: string): Promise<Map<string, number>> {
  const { rows } = await db.query<{ product_id: string; quantity: number }>(
    `SELECT line->>'productId' AS product_id, sum((line->>'quantity')::int)::int AS quantity
     FROM "return".returns, jsonb_array_elements(lines) AS line WHERE order_id = $1 GROUP BY 1`, [orderId],
  );
  return new Map(rows.map((row) => [row.product_id, row.quantity]));
}

/** The returnable view of an order; 404 naming `orderId` if Return does not know it. */
export async function returnableOf(db: SqlExecutor, orderId: string): Promise<Returnable> {
  const order = await orderCopy(db, orderId, false);
  if (!order) throw new ApiError(404, 'NOT_FOUND', `orderId: Return knows no order ${orderId}`, 'orderId');
  const returned = await alreadyReturned(db, orderId);
  return {
    orderId, status: order.status, ...(order.delivered_at === null ? {} : { deliveredAt: order.delivered_at.toISOString() }),
    lines: order.lines.map((line) => ({ productId: line.productId, ordered: line.quantity, returnable: order.status === 'delivered' ? line.quantity - (returned.get(line.productId) ?? 0) : 0 })),
  };
}

function unprocessable(field: string, code: string, message: string): ApiError {
  return new ApiError(422, code, `${field}: ${message}`, field);
}

/** Requests a return (rules in the module comment; 422 naming the field otherwise) and publishes `return.return.requested`. */
export async function requestReturn(tx: ProducerTransaction, request: { orderId: string; lines: readonly ReturnLine[]; comment?: string }): Promise<ReturnView> {
  const order = await orderCopy(tx, request.orderId, true);
  if (!order) throw unprocessable('orderId', 'UNKNOWN_ORDER', `no order ${request.orderId} is known to Return`);
  if (order.status !== 'delivered' || order.delivered_at === null) throw unprocessable('orderId', 'ORDER_NOT_DELIVERED', `order ${request.orderId} is ${order.status}; only delivered orders can be returned`);
  if (Date.now() - order.delivered_at.getTime() > RETURN_WINDOW_DAYS * 86_400_000) {
    throw unprocessable('orderId', 'RETURN_WINDOW_CLOSED', `order ${request.orderId} was delivered on ${order.delivered_at.toISOString()}, more than ${RETURN_WINDOW_DAYS} days ago`);
  }
  const returned = await alreadyReturned(tx, request.orderId);
  for (const [i, line] of request.lines.entries()) {
    const ordered = order.lines.find((orderLine) => orderLine.productId === line.productId);
    if (!ordered) throw unprocessable(`lines[${i}].productId`, 'NOT_IN_ORDER', `order ${request.orderId} has no product ${line.productId}`);
    const left = ordered.quantity - (returned.get(line.productId) ?? 0);
    if (line.quantity > left) {
      throw unprocessable(`lines[${i}].quantity`, 'TOO_MANY', `${line.quantity} units asked for, ${left} of the ${ordered.quantity} ordered can still be returned`);
    }
  }
  const { rows: [row] } = await tx.query<ReturnRow>(
    `INSERT INTO "return".returns (id, order_id, customer_id, status, lines, comment, version, requested_at)
     VALUES ($1, $2, $3, 'requested', $4, $5, 1, now()) RETURNING ${COLUMNS}`,
    [randomUUID(), request.orderId, order.customer_id, JSON.stringify(request.lines), request.comment ?? null],
  );
  const created = toView(row!);
  await tx.publish(returnRequested, {
    id: created.id, orderId: created.orderId, customerId: created.customerId, lines: created.lines,
    ...(created.comment === undefined ? {} : { comment: created.comment }), version: 1, requestedAt: created.requestedAt,
  });
  return created;
}

/** Receives a requested return's goods (at most the units requested per product; 422 naming the field otherwise; 409 if received already) and publishes `return.return.received`. */
export async function receiveReturn(tx: ProducerTransaction, id: string, received: { lines: readonly ReceivedLine[]; warehouseId?: string }): Promise<ReturnView> {
  const current = await readReturn(tx, id, true);
  if (current.status === 'received') throw new ApiError(409, 'ALREADY_RECEIVED', `status: return ${id} was received at ${current.receivedAt}`, 'status');
  for (const [i, line] of received.lines.entries()) {
    const requested = current.lines.find((requestedLine) => requestedLine.productId === line.productId);
    if (!requested) throw unprocessable(`lines[${i}].productId`, 'NOT_IN_RETURN', `return ${id} has no product ${line.productId}`);
    if (line.quantity > requested.quantity) throw unprocessable(`lines[${i}].quantity`, 'TOO_MANY', `${line.quantity} units received, ${requested.quantity} were requested`);
  }
  const warehouseId = received.warehouseId ?? DEFAULT_RETURNS_WAREHOUSE_ID;
  const { rows: [row] } = await tx.query<ReturnRow>(
    `UPDATE "return".returns SET status = 'received', warehouse_id = $2, received_lines = $3, version = version + 1, received_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, warehouseId, JSON.stringify(received.lines)],
  );
  const done = toView(row!);
  const event: ReturnReceived = { id, orderId: done.orderId, warehouseId, lines: received.lines, version: done.version, receivedAt: done.receivedAt! };
  await tx.publish(returnReceived, event);
  return done;
}

/**
 * Return's copy of orders. Version-based: a status change applies only above the copy's
 * version; a change for an order whose placement has not arrived is held, then dead-lettered.
 */
export function returnHandlers(): AnySubscription[] {
  return [
    on(orderPlaced, async ({ event, tx }) => {
      const order = event.data;
      const { rowCount } = await tx.query(
        'INSERT INTO "return".orders (id, customer_id, status, lines, version, event_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING',
        [order.id, order.customerId, order.status, JSON.stringify(order.lines.map(({ productId, quantity }) => ({ productId, quantity }))), order.version, event.id],
      );
      return rowCount === 1 ? 'applied' : 'stale';
    }),
    on(orderStatusChanged, async ({ event, tx }) => {
      const change = event.data;
      const { rowCount } = await tx.query(
        `UPDATE "return".orders SET status = $2, version = $3, event_id = $4, updated_at = now(),
           delivered_at = CASE WHEN $2 = 'delivered' THEN $5::timestamptz ELSE delivered_at END
         WHERE id = $1 AND version < $3`,
        [change.id, change.status, change.version, event.id, change.changedAt],
      );
      if (rowCount === 1) return 'applied';
      const { rowCount: known } = await tx.query('SELECT 1 FROM "return".orders WHERE id = $1', [change.id]);
      if (known === 0) throw new RetryLaterError(`order ${change.id} is ${change.status}, but Return has not received its placement`, { delayMs: RETURN_HOLD_MS });
      return 'stale';
    }),
  ];
}
