import { Hono } from 'hono';
import type { SqlPool } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, enumField, integerField, uuidField } from '../../http/fields.js';
import { advanceFulfillment, findFulfillment, type Packing, type PickLine } from './fulfillments.js';

/**
 * Fulfillment's HTTP routes, mounted at `/fulfillment`.
 *
 *   GET  /fulfillment/fulfillments/:id         → 200 the fulfillment (with its package once packed), 404
 *   GET  /fulfillment/fulfillments?orderId=…   → 200 {"fulfillments": [...]} of the order (at most one)
 *   POST /fulfillment/fulfillments/:id/status  {"status": "picking"|"packed"|"shipped", "weightGrams"?, "dimensionsMm"?: {"length", "width", "height"}}
 *                                              → 200 the fulfillment; 409 naming `status` unless it is the next step
 *                                              (created → picking → packed → shipped); weight and size only when packing
 *   GET  /fulfillment/orders/:id               → 200 Fulfillment's copy of the order {id, status, version, lines}, 404
 */

const STATUSES = ['picking', 'packed', 'shipped'] as const;
/** Heaviest package the API takes, grams. */
const MAX_WEIGHT_GRAMS = 1_000_000;

/** The body of `POST /fulfillment/fulfillments/:id/status`; 400 naming the first bad field. */
export function parseStatusChange(body: Record<string, unknown>): { status: (typeof STATUSES)[number]; packing: Packing } {
  checkFields(body, ['status', 'weightGrams', 'dimensionsMm'], ['status']);
  const status = enumField('status', body.status, STATUSES);
  if (status !== 'packed' && (body.weightGrams !== undefined || body.dimensionsMm !== undefined)) {
    throw invalidField(body.weightGrams !== undefined ? 'weightGrams' : 'dimensionsMm', 'only when packing (status "packed")');
  }
  let dimensionsMm: Packing['dimensionsMm'];
  if (body.dimensionsMm !== undefined) {
    const raw = body.dimensionsMm;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidField('dimensionsMm', 'expected {"length", "width", "height"} in millimetres');
    const size = raw as Record<string, unknown>;
    const extra = Object.keys(size).find((key) => !['length', 'width', 'height'].includes(key));
    if (extra !== undefined) throw invalidField(`dimensionsMm.${extra}`, 'unknown field (expected length, width, height)', 'UNKNOWN_FIELD');
    dimensionsMm = {
      length: integerField('dimensionsMm.length', size.length, 1, 10_000),
      width: integerField('dimensionsMm.width', size.width, 1, 10_000),
      height: integerField('dimensionsMm.height', size.height, 1, 10_000),
    };
  }
  return {
    status,
    packing: {
      ...(body.weightGrams === undefined ? {} : { weightGrams: integerField('weightGrams', body.weightGrams, 1, MAX_WEIGHT_GRAMS) }),
      ...(dimensionsMm === undefined ? {} : { dimensionsMm }),
    },
  };
}

/** Fulfillment's routes. */
export function fulfillmentRoutes({ producer, pool }: { readonly producer: Producer; readonly pool: SqlPool }): Hono {
  const routes = new Hono();
  routes.get('/fulfillments/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const fulfillment = await findFulfillment(pool, 'id', id);
    if (!fulfillment) throw new ApiError(404, 'NOT_FOUND', `id: no fulfillment ${id}`, 'id');
    return c.json(fulfillment);
  });
  routes.get('/fulfillments', async (c) => {
    const orderId = c.req.query('orderId');
    if (orderId === undefined) throw invalidField('orderId', 'is required (GET /fulfillment/fulfillments?orderId=…)', 'MISSING_FIELD');
    const fulfillment = await findFulfillment(pool, 'order_id', uuidField('orderId', orderId));
    return c.json({ fulfillments: fulfillment ? [fulfillment] : [] });
  });
  routes.post('/fulfillments/:id/status', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const { status, packing } = parseStatusChange(await readJsonObject(c));
    return c.json(await producer.transaction((tx) => advanceFulfillment(tx, tx.publish.bind(tx), id, status, packing)));
  });
  routes.get('/orders/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const { rows: [order] } = await pool.query<{ status: string; version: number; lines: PickLine[] }>('SELECT status, version, lines FROM fulfillment.orders WHERE id = $1', [id]);
    if (!order) throw new ApiError(404, 'NOT_FOUND', `id: Fulfillment has no order ${id}`, 'id');
    return c.json({ id, ...order });
  });
  return routes;
}
