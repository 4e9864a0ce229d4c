import { randomUUID } from 'node:crypto';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import type { ProducerTransaction } from 'datasync/runtime';
import { checkoutAbandoned, checkoutCompleted, checkoutStarted, type CheckoutStep } from '../../contracts/checkout.js';
import { ApiError } from '../../http/errors.js';
import { formatAmount, multiplyAmount, normalizeAmount } from '../../contracts/money.js';
import { chooseCurrency } from '../order/orders.js';
import { availabilityOf, pricesOf } from './copies.js';

/**
 * Checkout's own data: checkout sessions, a cart on its way to an order. A session is opened
 * with priced lines (`open`), then either completed with the order Order placed for it or
 * abandoned. Each change writes the session and publishes its event in one producer
 * transaction; every change increments the session's `version`.
 */

/** The sessions table. */
export const sessionsTable: Migration = {
  id: 'checkout_0002_sessions',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.sessions (
    id           uuid PRIMARY KEY,
    cart_id      uuid NOT NULL,
    customer_id  uuid NOT NULL,
    status       text NOT NULL CHECK (status IN ('open', 'completed', 'abandoned')),
    step         text NOT NULL DEFAULT 'cart',
    currency     char(3) NOT NULL,
    lines        jsonb NOT NULL,
    item_count   integer NOT NULL,
    subtotal     numeric NOT NULL,
    order_id     uuid,
    total        numeric,
    version      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
  )`,
};

/** One priced line of a session. */
export interface SessionLine {
  readonly productId: string;
  readonly quantity: number;
  readonly unitPrice: string;
  readonly lineTotal: string;
}

/** A session as the API shows it. */
export interface CheckoutSession {
  readonly id: string;
  readonly cartId: string;
  readonly customerId: string;
  readonly status: 'open' | 'completed' | 'abandoned';
  readonly step: CheckoutStep;
  readonly currency: string;
  readonly lines: readonly SessionLine[];
  readonly itemCount: number;
  readonly subtotal: string;
  /** Once completed: the order and what it costs (Order's total, shipping included). */
  readonly orderId?: string;
  readonly total?: string;
  readonly version: number;
  readonly startedAt: string;
  readonly updatedAt: string;
}

/** What `POST /checkout/sessions` asks for. */
export interface NewSession {
  readonly customerId: string;
  readonly items: readonly { readonly productId: string; readonly quantity: number }[];
  readonly currency?: string;
  /** Default: a new id (carts are not a service of their own yet). */
  readonly cartId?: string;
}

interface SessionRow {
  id: string; cart_id: string; customer_id: string; status: CheckoutSession['status']; step: CheckoutStep; currency: string;
  lines: SessionLine[]; item_count: number; subtotal: string; order_id: string | null; total: string | null; version: number;
  started_at: Date; updated_at: Date;
}

function toSession(row: SessionRow): CheckoutSession {
  return {
    id: row.id, cartId: row.cart_id, customerId: row.customer_id, status: row.status, step: row.step, currency: row.currency.trim(),
    lines: row.lines, itemCount: row.item_count, subtotal: normalizeAmount(row.subtotal),
    ...(row.order_id === null ? {} : { orderId: row.order_id }), ...(row.total === null ? {} : { total: normalizeAmount(row.total) }),
    version: row.version, startedAt: row.started_at.toISOString(), updatedAt: row.updated_at.toISOString(),
  };
}

const COLUMNS = 'id::text, cart_id::text, customer_id::text, status, step, currency, lines, item_count, subtotal::text, order_id::text, total::text, version, started_at, updated_at';

/** The session `id`, or a 404 naming `id`. */
export async function readSession(db: SqlExecutor, id: string, lock = false): Promise<CheckoutSession> {
  const { rows: [row] } = await db.query<SessionRow>(`SELECT ${COLUMNS} FROM checkout.sessions WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  if (!row) throw new ApiError(404, 'NOT_FOUND', `id: no checkout session ${id}`, 'id');
  return toSession(row);
}

/** 409 naming the first item of which fewer units are available (Checkout's stock copy) than asked for. */
export async function checkAvailability(db: SqlExecutor, items: NewSession['items']): Promise<void> {
  const available = await availabilityOf(db, items.map((item) => item.productId));
  for (const [i, item] of items.entries()) {
    const units = available.get(item.productId) ?? 0;
    if (units >= item.quantity) continue;
    if (units === 0) throw new ApiError(409, 'OUT_OF_STOCK', `items[${i}].productId: product ${item.productId} is out of stock`, `items[${i}].productId`);
    throw new ApiError(409, 'OUT_OF_STOCK', `items[${i}].quantity: only ${units} of product ${item.productId} available, ${item.quantity} asked for`, `items[${i}].quantity`);
  }
}

/** Opens a session: prices every item in one currency (422 naming an item without a price), checks stock (409), publishes `checkout.session.started`. */
export async function startSession(tx: ProducerTransaction, request: NewSession): Promise<CheckoutSession> {
  const prices = await pricesOf(tx, request.items.map((item) => item.productId));
  const currency = chooseCurrency(request.items, request.currency, prices);
  await checkAvailability(tx, request.items);
  const lines: SessionLine[] = request.items.map(({ productId, quantity }) => {
    const unitPrice = normalizeAmount(prices.get(productId)!.get(currency)!);
    return { productId, quantity, unitPrice, lineTotal: formatAmount(multiplyAmount(unitPrice, quantity)) };
  });
  const subtotal = formatAmount(lines.reduce((sum, line) => sum + multiplyAmount(line.unitPrice, line.quantity), 0n));
  const itemCount = lines.reduce((sum, line) => sum + line.quantity, 0);
  const id = randomUUID();
  const { rows: [row] } = await tx.query<SessionRow>(
    `INSERT INTO checkout.sessions (id, cart_id, customer_id, status, currency, lines, item_count, subtotal, version, started_at, updated_at)
     VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, 1, now(), now()) RETURNING ${COLUMNS}`,
    [id, request.cartId ?? randomUUID(), request.customerId, currency, JSON.stringify(lines), itemCount, subtotal],
  );
  const session = toSession(row!);
  await tx.publish(checkoutStarted, {
    id, cartId: session.cartId, customerId: session.customerId, currency, itemCount, subtotal, version: 1, startedAt: session.startedAt,
  });
  return session;
}

/**
 * Records that Order placed `order` for the session (open, or abandoned meanwhile: the order
 * exists, so the session is completed) and publishes `checkout.session.completed`; a session
 * already completed is returned as it is.
 */
export async function completeSession(tx: ProducerTransaction, id: string, order: { id: string; total: string; currency: string }): Promise<CheckoutSession> {
  const current = await readSession(tx, id, true);
  if (current.status === 'completed') return current;
  const { rows: [row] } = await tx.query<SessionRow>(
    `UPDATE checkout.sessions SET status = 'completed', step = 'review', order_id = $2, total = $3, version = version + 1, updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, order.id, order.total],
  );
  const session = toSession(row!);
  await tx.publish(checkoutCompleted, {
    id, cartId: session.cartId, customerId: session.customerId, orderId: order.id, currency: order.currency, total: session.total!,
    version: session.version, completedAt: session.updatedAt,
  });
  return session;
}

/** Abandons an open session (publishes `checkout.session.abandoned` with the step reached); 409 for a completed one; an abandoned one is returned as it is. */
export async function abandonSession(tx: ProducerTransaction, id: string): Promise<CheckoutSession> {
  const current = await readSession(tx, id, true);
  if (current.status === 'abandoned') return current;
  if (current.status === 'completed') throw new ApiError(409, 'SESSION_COMPLETED', `status: checkout session ${id} is completed (order ${current.orderId}); it cannot be abandoned`, 'status');
  const { rows: [row] } = await tx.query<SessionRow>(
    `UPDATE checkout.sessions SET status = 'abandoned', version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`, [id],
  );
  const session = toSession(row!);
  await tx.publish(checkoutAbandoned, {
    id, cartId: session.cartId, customerId: session.customerId, lastStep: session.step, version: session.version, abandonedAt: session.updatedAt,
  });
  return session;
}
