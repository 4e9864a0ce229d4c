import { randomUUID } from 'node:crypto';
import type { Topic } from 'datasync/core';
import type { SqlExecutor } from 'datasync/postgres';
import type { Address } from '../../contracts/fields.js';
import { orderPlaced, orderStatusChanged, type OrderStatus } from '../../contracts/order.js';
import { ApiError } from '../../http/errors.js';
import { formatAmount, multiplyAmount, normalizeAmount, toMinorUnits } from '../../contracts/money.js';

/**
 * Order's own data and every change it makes to it: placing an order from the copies of
 * customers, products and prices, and moving an order along its lifecycle. Each change writes
 * the rows and publishes the event through `publish` in the caller's transaction (an API
 * request's producer transaction, or a consumer handler's `tx` through the outbox), so the
 * change and its event commit together.
 */

/** Publishes one event in the caller's transaction. */
export type Publish = <T>(topic: Topic<T>, data: T) => Promise<unknown>;

/** The currency of an order whose request names none, when every item has a price in it. */
export const DEFAULT_CURRENCY = 'EUR';
/** Orders whose subtotal reaches this ship free (in the order's currency). */
export const FREE_SHIPPING_FROM = '50.00';
/** The shipping charge below {@link FREE_SHIPPING_FROM}. */
export const SHIPPING_FEE = '4.90';

/** A parcel's address: where the order goes and who receives it. */
export type ShipTo = Address & { readonly recipientName: string };

/** What `POST /orders` asks for (the routes have checked the shape). */
export interface OrderRequest {
  readonly customerId: string;
  readonly items: readonly { readonly productId: string; readonly quantity: number }[];
  /** Default: EUR if every item has a EUR price, else the first currency (A–Z) every item has a price in. */
  readonly currency?: string;
  /** Default: the customer's default shipping address, to their first and last name. */
  readonly shippingAddress?: ShipTo;
  /** The checkout session that placed the order; a direct order uses its own id. */
  readonly checkoutId?: string;
}

/** One line of an order as the API shows it. */
export interface OrderLineView {
  readonly productId: string;
  readonly sku: string;
  readonly quantity: number;
  readonly unitPrice: string;
  readonly lineTotal: string;
}

/** An order as the API shows it. */
export interface OrderView {
  readonly id: string;
  readonly customerId: string;
  readonly email: string;
  readonly status: OrderStatus;
  readonly cancelReason?: string;
  readonly currency: string;
  readonly lines: readonly OrderLineView[];
  readonly subtotal: string;
  readonly discountTotal: string;
  readonly shippingTotal: string;
  readonly taxTotal: string;
  readonly total: string;
  readonly shippingAddress: ShipTo;
  readonly checkoutId: string;
  readonly version: number;
  readonly placedAt: string;
  readonly updatedAt: string;
}

interface OrderRow {
  id: string; customer_id: string; email: string; status: OrderStatus; cancel_reason: string | null; currency: string;
  subtotal: string; discount_total: string; shipping_total: string; tax_total: string; total: string;
  shipping_address: ShipTo; checkout_id: string; version: number; placed_at: Date; updated_at: Date;
}

const ORDER_COLUMNS = `id::text, customer_id::text, email, status, cancel_reason, currency, subtotal::text, discount_total::text,
  shipping_total::text, tax_total::text, total::text, shipping_address, checkout_id::text, version, placed_at, updated_at`;

/** The order `id` with its lines; undefined if there is none. `lock` holds the row until the transaction ends. */
export async function readOrder(db: SqlExecutor, id: string, lock = false): Promise<OrderView | undefined> {
  const { rows: [row] } = await db.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM "order".orders WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  if (!row) return undefined;
  const { rows: lines } = await db.query<{ product_id: string; sku: string; quantity: number; unit_price: string }>(
    'SELECT product_id::text, sku, quantity, unit_price::text FROM "order".order_lines WHERE order_id = $1 ORDER BY line_no', [id],
  );
  return {
    id: row.id, customerId: row.customer_id, email: row.email, status: row.status,
    ...(row.cancel_reason === null ? {} : { cancelReason: row.cancel_reason }),
    currency: row.currency.trim(),
    lines: lines.map((line) => ({
      productId: line.product_id, sku: line.sku, quantity: line.quantity, unitPrice: normalizeAmount(line.unit_price),
      lineTotal: formatAmount(multiplyAmount(line.unit_price, line.quantity)),
    })),
    subtotal: normalizeAmount(row.subtotal), discountTotal: normalizeAmount(row.discount_total), shippingTotal: normalizeAmount(row.shipping_total),
    taxTotal: normalizeAmount(row.tax_total), total: normalizeAmount(row.total), shippingAddress: row.shipping_address,
    checkoutId: row.checkout_id, version: row.version, placedAt: row.placed_at.toISOString(), updatedAt: row.updated_at.toISOString(),
  };
}

/** 422 for a request that is well-formed but refers to something Order cannot use. */
export function unprocessable(field: string, code: string, message: string): ApiError {
  return new ApiError(422, code, `${field}: ${message}`, field);
}

/**
 * The currency of an order (or a checkout) of `items`: `wanted` if given, else EUR if every
 * item has a EUR price, else the first (A–Z) every item has a price in. `prices` maps product
 * → currency → amount. 422 naming `items[i].productId` for the first item that has no price in it.
 */
export function chooseCurrency(items: readonly { readonly productId: string }[], wanted: string | undefined, prices: ReadonlyMap<string, ReadonlyMap<string, string>>): string {
  let common: Set<string> | undefined;
  for (const [i, item] of items.entries()) {
    const priced = prices.get(item.productId) ?? new Map<string, string>();
    if (wanted !== undefined) {
      if (!priced.has(wanted)) throw unprocessable(`items[${i}].productId`, 'NO_PRICE', `product ${item.productId} has no price in ${wanted}`);
      continue;
    }
    const next = new Set([...(common ?? priced.keys())].filter((currency) => priced.has(currency)));
    if (next.size === 0) {
      throw unprocessable(`items[${i}].productId`, 'NO_PRICE', priced.size === 0
        ? `product ${item.productId} has no price yet`
        : `product ${item.productId} has no price in a currency the items before it share (${[...(common ?? [])].join(', ')}); it is priced in ${[...priced.keys()].join(', ')}`);
    }
    common = next;
  }
  if (wanted !== undefined) return wanted;
  return common!.has(DEFAULT_CURRENCY) ? DEFAULT_CURRENCY : [...common!].sort()[0]!;
}

/**
 * Places an order: checks the customer and every product against Order's copies, prices the
 * lines from the price copy in one currency, computes the totals (subtotal = Σ quantity ×
 * unit price; no discounts; shipping free from {@link FREE_SHIPPING_FROM}, else
 * {@link SHIPPING_FEE}; prices include tax, so `taxTotal` is 0), writes the order as
 * `pending` and publishes `order.order.placed`. A second request with the same `checkoutId`
 * returns the order already placed (`created: false`) instead of placing another.
 */
export async function placeOrder(tx: SqlExecutor, publish: Publish, request: OrderRequest): Promise<{ order: OrderView; created: boolean }> {
  if (request.checkoutId !== undefined) {
    const existing = await existingForCheckout(tx, request);
    if (existing) return { order: existing, created: false };
  }
  const { rows: [customer] } = await tx.query<{ email: string | null; recipient_name: string | null; shipping_address: Address | null; deleted: boolean }>(
    'SELECT email, recipient_name, shipping_address, deleted FROM "order".customers WHERE customer_id = $1', [request.customerId],
  );
  if (!customer) throw unprocessable('customerId', 'UNKNOWN_CUSTOMER', `no customer ${request.customerId} is known to Order`);
  if (customer.deleted || customer.email === null) throw unprocessable('customerId', 'CUSTOMER_DELETED', `customer ${request.customerId} was deleted`);

  const productIds = request.items.map((item) => item.productId);
  const { rows: products } = await tx.query<{ product_id: string; sku: string | null; status: string | null; deleted: boolean }>(
    'SELECT product_id, sku, status, deleted FROM "order".products WHERE product_id = ANY($1)', [productIds],
  );
  const productById = new Map(products.map((product) => [product.product_id, product]));
  for (const [i, item] of request.items.entries()) {
    const product = productById.get(item.productId);
    if (!product || (product.deleted && product.sku === null)) throw unprocessable(`items[${i}].productId`, 'UNKNOWN_PRODUCT', `no product ${item.productId} is known to Order`);
    if (product.deleted) throw unprocessable(`items[${i}].productId`, 'PRODUCT_UNAVAILABLE', `product ${item.productId} (${product.sku}) was deleted from the catalog`);
    if (product.status !== 'active') throw unprocessable(`items[${i}].productId`, 'PRODUCT_UNAVAILABLE', `product ${item.productId} (${product.sku}) is ${product.status} and cannot be ordered`);
  }

  const { rows: priceRows } = await tx.query<{ product_id: string; currency: string; amount: string }>(
    'SELECT product_id, currency, amount::text FROM "order".prices WHERE product_id = ANY($1)', [productIds],
  );
  const prices = new Map<string, Map<string, string>>();
  for (const row of priceRows) {
    const forProduct = prices.get(row.product_id) ?? new Map<string, string>();
    forProduct.set(row.currency.trim(), row.amount);
    prices.set(row.product_id, forProduct);
  }
  const currency = chooseCurrency(request.items, request.currency, prices);

  const shipTo = request.shippingAddress ?? defaultShipTo(customer.shipping_address, customer.recipient_name, request.customerId);
  const lines = request.items.map((item) => ({
    productId: item.productId, sku: productById.get(item.productId)!.sku!, quantity: item.quantity,
    unitPrice: normalizeAmount(prices.get(item.productId)!.get(currency)!),
  }));
  const subtotal = lines.reduce((sum, line) => sum + multiplyAmount(line.unitPrice, line.quantity), 0n);
  const shipping = subtotal >= toMinorUnits(FREE_SHIPPING_FROM) ? 0n : toMinorUnits(SHIPPING_FEE);
  const totals = { subtotal: formatAmount(subtotal), discountTotal: formatAmount(0n), shippingTotal: formatAmount(shipping), taxTotal: formatAmount(0n), total: formatAmount(subtotal + shipping) };

  const id = randomUUID();
  const checkoutId = request.checkoutId ?? id;
  const { rows: [inserted] } = await tx.query<{ placed_at: Date }>(
    `INSERT INTO "order".orders (id, customer_id, email, status, currency, subtotal, discount_total, shipping_total, tax_total, total,
       shipping_address, checkout_id, version, placed_at, updated_at)
     VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, 1, now(), now())
     ON CONFLICT (checkout_id) DO NOTHING RETURNING placed_at`,
    [id, request.customerId, customer.email, currency, totals.subtotal, totals.discountTotal, totals.shippingTotal, totals.taxTotal, totals.total,
      JSON.stringify(shipTo), checkoutId],
  );
  if (!inserted) {
    // another request of the same checkout committed first
    const existing = await existingForCheckout(tx, request);
    if (existing) return { order: existing, created: false };
    throw new ApiError(409, 'CHECKOUT_RACE', `checkoutId: an order for checkout ${checkoutId} is being placed; retry`, 'checkoutId');
  }
  await tx.query(
    `INSERT INTO "order".order_lines (order_id, line_no, product_id, sku, quantity, unit_price)
     SELECT $1, n, p, s, q, u FROM unnest($2::int[], $3::uuid[], $4::text[], $5::int[], $6::numeric[]) AS l(n, p, s, q, u)`,
    [id, lines.map((_, i) => i + 1), lines.map((l) => l.productId), lines.map((l) => l.sku), lines.map((l) => l.quantity), lines.map((l) => l.unitPrice)],
  );
  const placedAt = inserted.placed_at.toISOString();
  await recordStatus(tx, { orderId: id, from: null, to: 'pending', version: 1, cause: 'api:place', at: placedAt });
  await publish(orderPlaced, {
    id, customerId: request.customerId, email: customer.email, status: 'pending', currency,
    lines: lines.map(({ productId, sku, quantity, unitPrice }) => ({ productId, sku, quantity, unitPrice })),
    ...totals, shippingAddress: shipTo, checkoutId, version: 1, placedAt,
  });
  return { order: (await readOrder(tx, id))!, created: true };
}

/** The order already placed for `request.checkoutId`; 409 if it belongs to another customer. */
async function existingForCheckout(tx: SqlExecutor, request: OrderRequest): Promise<OrderView | undefined> {
  const { rows: [row] } = await tx.query<{ id: string }>('SELECT id::text FROM "order".orders WHERE checkout_id = $1', [request.checkoutId]);
  if (!row) return undefined;
  const order = (await readOrder(tx, row.id))!;
  if (order.customerId !== request.customerId) {
    throw new ApiError(409, 'CHECKOUT_USED', `checkoutId: checkout ${request.checkoutId} already placed an order for another customer`, 'checkoutId');
  }
  return order;
}

/** The customer's default shipping address to their name; 422 naming `shippingAddress` when Order lacks either. */
function defaultShipTo(address: Address | null, recipientName: string | null, customerId: string): ShipTo {
  if (address === null) throw unprocessable('shippingAddress', 'NO_SHIPPING_ADDRESS', `customer ${customerId} has no default shipping address; send shippingAddress`);
  if (recipientName === null) throw unprocessable('shippingAddress', 'NO_RECIPIENT_NAME', `customer ${customerId} has no name on file; send shippingAddress with recipientName`);
  return { recipientName, ...address };
}

/** Where an order may go from each status (forward only; `processing` is kept for a future step between paid and shipped). */
const NEXT: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending: ['confirmed', 'cancelled'],
  confirmed: ['processing', 'shipped', 'delivered', 'cancelled'],
  processing: ['shipped', 'delivered', 'cancelled'],
  shipped: ['delivered'],
  delivered: [],
  cancelled: [],
};

/** True if an order in `from` may move to `to`. */
export function canMove(from: OrderStatus, to: OrderStatus): boolean {
  return NEXT[from].includes(to);
}

/** What caused a status change: `api:<action>` or `<topic>:<entity id>`, and the consumed event's id. */
export interface StatusCause {
  readonly cause: string;
  readonly causeEventId?: string;
  readonly reason?: string;
}

/**
 * Moves a locked order (read with `readOrder(tx, id, true)`) to `to`, one version up, records
 * it in the status history and publishes `order.order.status-changed`. The caller has checked
 * {@link canMove}.
 */
export async function moveOrder(tx: SqlExecutor, publish: Publish, order: OrderView, to: OrderStatus, cause: StatusCause): Promise<OrderView> {
  const version = order.version + 1;
  const { rows: [row] } = await tx.query<{ updated_at: Date }>(
    `UPDATE "order".orders SET status = $2, cancel_reason = $3, version = $4, updated_at = now() WHERE id = $1 AND version = $5 RETURNING updated_at`,
    [order.id, to, to === 'cancelled' ? cause.reason ?? null : null, version, order.version],
  );
  if (!row) throw new Error(`order ${order.id} changed while it was being moved to ${to} (was it read without a lock?)`);
  const changedAt = row.updated_at.toISOString();
  await recordStatus(tx, { orderId: order.id, from: order.status, to, reason: cause.reason, version, cause: cause.cause, causeEventId: cause.causeEventId, at: changedAt });
  await publish(orderStatusChanged, {
    id: order.id, status: to, previousStatus: order.status, ...(cause.reason === undefined ? {} : { reason: cause.reason }), version, changedAt,
  });
  return (await readOrder(tx, order.id))!;
}

async function recordStatus(tx: SqlExecutor, entry: {
  orderId: string; from: OrderStatus | null; to: OrderStatus; reason?: string; version: number; cause: string; causeEventId?: string; at: string;
}): Promise<void> {
  await tx.query(
    `INSERT INTO "order".status_history (order_id, from_status, to_status, reason, version, cause, cause_event_id, changed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [entry.orderId, entry.from, entry.to, entry.reason ?? null, entry.version, entry.cause, entry.causeEventId ?? null, entry.at],
  );
}
