import { Hono, type Context } from 'hono';
import type { SqlPool } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { ApiError, readJsonObject } from '../../http/errors.js';
import { addressField, checkFields, currencyField, parseItems, textField, uuidField } from '../../http/fields.js';
import { canMove, moveOrder, placeOrder, readOrder, type OrderRequest, type ShipTo } from './orders.js';

/**
 * Order's HTTP routes, mounted at `/orders`. Bad input is a 400 naming the field; a
 * well-formed request that refers to something Order cannot use (unknown customer or
 * product, no price) is a 422 naming the field; a status that does not allow the change is a 409.
 *
 *   POST /orders             {"customerId", "items": [{"productId", "quantity"}], "currency"?, "shippingAddress"?, "checkoutId"?}
 *                            → 201 the order (200 the existing one for a checkoutId already placed)
 *   GET  /orders/:id         → 200 the order, 404
 *   POST /orders/:id/cancel  (no body) → 200 the cancelled order (reason customer-request); 409 unless pending or confirmed
 */

const ORDER_FIELDS = ['customerId', 'items', 'currency', 'shippingAddress', 'checkoutId'] as const;

/** A `shippingAddress`: recipientName, line1, line2?, city, region?, postalCode, country (ISO 3166-1 alpha-2). */
export function parseShipTo(value: unknown, field = 'shippingAddress'): ShipTo {
  const address = addressField(field, value, ['recipientName']);
  return { recipientName: textField(`${field}.recipientName`, (value as Record<string, unknown>).recipientName, 100), ...address };
}

/** The body of `POST /orders`; throws a 400 ApiError naming the first bad field. */
export function parseOrderRequest(body: Record<string, unknown>): OrderRequest {
  checkFields(body, ORDER_FIELDS, ['customerId', 'items']);
  return {
    customerId: uuidField('customerId', body.customerId),
    items: parseItems(body.items),
    ...(body.currency === undefined ? {} : { currency: currencyField('currency', body.currency) }),
    ...(body.shippingAddress === undefined ? {} : { shippingAddress: parseShipTo(body.shippingAddress) }),
    ...(body.checkoutId === undefined ? {} : { checkoutId: uuidField('checkoutId', body.checkoutId) }),
  };
}

/** A request with no body or an empty JSON object; 400 naming the first field sent. */
async function readEmptyBody(c: Context): Promise<void> {
  if ((await c.req.raw.clone().text()).trim() === '') return;
  checkFields(await readJsonObject(c), []);
}

/** Order's routes. */
export function orderRoutes({ producer, pool }: { readonly producer: Producer; readonly pool: SqlPool }): Hono {
  const routes = new Hono();
  routes.post('/', async (c) => {
    const request = parseOrderRequest(await readJsonObject(c));
    const { order, created } = await producer.transaction((tx) => placeOrder(tx, tx.publish.bind(tx), request));
    return c.json(order, created ? 201 : 200);
  });
  routes.get('/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const order = await readOrder(pool, id);
    if (!order) throw new ApiError(404, 'NOT_FOUND', `id: no order ${id}`, 'id');
    return c.json(order);
  });
  routes.post('/:id/cancel', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    await readEmptyBody(c);
    const order = await producer.transaction(async (tx) => {
      const current = await readOrder(tx, id, true);
      if (!current) throw new ApiError(404, 'NOT_FOUND', `id: no order ${id}`, 'id');
      if (!canMove(current.status, 'cancelled')) {
        throw new ApiError(409, 'NOT_CANCELLABLE', `status: order ${id} is ${current.status}; only pending or confirmed orders can be cancelled`, 'status');
      }
      return moveOrder(tx, tx.publish.bind(tx), current, 'cancelled', { cause: 'api:cancel', reason: 'customer-request' });
    });
    return c.json(order);
  });
  return routes;
}
