import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { SqlPool } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import type { ServiceDirectory } from '../../host/module.js';
import { ApiError, readJsonObject } from '../../http/errors.js';
import { checkFields, currencyField, uuidField } from '../../http/fields.js';
import { parseItems } from '../../http/fields.js';
import { abandonSession, checkAvailability, completeSession, readSession, startSession, type NewSession } from './sessions.js';

/**
 * Checkout's HTTP routes, mounted at `/checkout`.
 *
 *   POST /checkout/sessions               {"customerId", "items": [{"productId", "quantity"}], "currency"?, "cartId"?}
 *                                         → 201 the session with priced lines; 422 an item without a price; 409 an item out of stock
 *   GET  /checkout/sessions/:id           → 200 the session, 404
 *   POST /checkout/sessions/:id/complete  {"shippingAddress"?} → places the order through Order's API (`POST /orders` with
 *                                         `checkoutId` = the session id, so a retried completion finds the same order) and
 *                                         → 200 the completed session with `orderId` and `total`; Order's 4xx is passed on;
 *                                         409 abandoned or out of stock; 503 when Order does not answer
 *   POST /checkout/sessions/:id/abandon   → 200 the abandoned session; 409 if completed
 */

/** The body of `POST /checkout/sessions`; throws a 400 ApiError naming the first bad field. */
export function parseNewSession(body: Record<string, unknown>): NewSession {
  checkFields(body, ['customerId', 'items', 'currency', 'cartId'], ['customerId', 'items']);
  return {
    customerId: uuidField('customerId', body.customerId),
    items: parseItems(body.items),
    ...(body.currency === undefined ? {} : { currency: currencyField('currency', body.currency) }),
    ...(body.cartId === undefined ? {} : { cartId: uuidField('cartId', body.cartId) }),
  };
}

/** The body as an object; an empty body is `{}`. */
async function optionalBody(c: Context): Promise<Record<string, unknown>> {
  if ((await c.req.raw.clone().text()).trim() === '') return {};
  return readJsonObject(c);
}

interface PlacedOrder { id: string; total: string; currency: string }

/** Asks Order to place the session's order; Order's refusals become this API's, naming the same fields. */
async function placeOrder(services: ServiceDirectory, body: Record<string, unknown>): Promise<PlacedOrder> {
  let response: Response;
  try {
    response = await services.fetch('order', '/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(503, 'ORDER_UNAVAILABLE', `the order service did not answer: ${(error as Error).message}`);
  }
  const reply = await response.json().catch(() => undefined) as { error?: { code: string; message: string; field?: string } } & Partial<PlacedOrder> | undefined;
  if (response.status === 200 || response.status === 201) return reply as PlacedOrder;
  if (response.status >= 400 && response.status < 500 && reply?.error) {
    throw new ApiError(response.status as ContentfulStatusCode, reply.error.code, `order refused: ${reply.error.message}`, reply.error.field);
  }
  throw new ApiError(502, 'ORDER_FAILED', `the order service answered ${response.status}`);
}

/** Checkout's routes. */
export function checkoutRoutes({ producer, pool, services }: { readonly producer: Producer; readonly pool: SqlPool; readonly services: ServiceDirectory }): Hono {
  const routes = new Hono();
  routes.post('/sessions', async (c) => {
    const request = parseNewSession(await readJsonObject(c));
    return c.json(await producer.transaction((tx) => startSession(tx, request)), 201);
  });
  routes.get('/sessions/:id', async (c) => c.json(await readSession(pool, uuidField('id', c.req.param('id')))));
  routes.post('/sessions/:id/complete', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const body = await optionalBody(c);
    checkFields(body, ['shippingAddress'], []);
    const session = await readSession(pool, id);
    if (session.status === 'completed') return c.json(session);
    if (session.status === 'abandoned') throw new ApiError(409, 'SESSION_ABANDONED', `status: checkout session ${id} was abandoned`, 'status');
    const items = session.lines.map(({ productId, quantity }) => ({ productId, quantity }));
    await checkAvailability(pool, items);
    const order = await placeOrder(services, {
      customerId: session.customerId, items, currency: session.currency, checkoutId: id,
      ...(body.shippingAddress === undefined ? {} : { shippingAddress: body.shippingAddress }),
    });
    return c.json(await producer.transaction((tx) => completeSession(tx, id, order)));
  });
  routes.post('/sessions/:id/abandon', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    checkFields(await optionalBody(c), []);
    return c.json(await producer.transaction((tx) => abandonSession(tx, id)));
  });
  return routes;
}
