import { Hono } from 'hono';
import type { SqlPool } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import type { ShipmentStatus } from '../../contracts/shipping.js';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, enumField, uuidField } from '../../http/fields.js';
import { findShipments, SHIPMENT_STATUSES, trackShipment } from './shipments.js';

/**
 * Shipping's HTTP routes, mounted at `/shipping`.
 *
 *   GET  /shipping/shipments/:id         → 200 the shipment, 404
 *   GET  /shipping/shipments?orderId=…   → 200 {"shipments": [...]} of the order
 *   POST /shipping/shipments/:id/status  {"status": "in-transit"|"out-for-delivery"|"delivered"|"exception"|"returned-to-sender",
 *                                        "estimatedDeliveryAt"?: RFC 3339} (a carrier's tracking update)
 *                                        → 200 the shipment; 409 naming `status` if the shipment cannot move there
 */

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The body of `POST /shipping/shipments/:id/status`; 400 naming the first bad field. */
export function parseTrackingUpdate(body: Record<string, unknown>): { status: ShipmentStatus; estimatedDeliveryAt?: string } {
  checkFields(body, ['status', 'estimatedDeliveryAt'], ['status']);
  const status = enumField('status', body.status, SHIPMENT_STATUSES.filter((s) => s !== 'label-created'));
  if (body.estimatedDeliveryAt === undefined) return { status };
  const eta = body.estimatedDeliveryAt;
  if (typeof eta !== 'string' || !RFC3339.test(eta) || Number.isNaN(Date.parse(eta))) {
    throw invalidField('estimatedDeliveryAt', `expected an RFC 3339 time such as "2026-12-01T12:00:00Z", got ${JSON.stringify(eta)}`);
  }
  return { status, estimatedDeliveryAt: new Date(eta).toISOString() };
}

/** Shipping's routes. */
export function shippingRoutes({ producer, pool }: { readonly producer: Producer; readonly pool: SqlPool }): Hono {
  const routes = new Hono();
  routes.get('/shipments/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const [shipment] = await findShipments(pool, 'id', id);
    if (!shipment) throw new ApiError(404, 'NOT_FOUND', `id: no shipment ${id}`, 'id');
    return c.json(shipment);
  });
  routes.get('/shipments', async (c) => {
    const orderId = c.req.query('orderId');
    if (orderId === undefined) throw invalidField('orderId', 'is required (GET /shipping/shipments?orderId=…)', 'MISSING_FIELD');
    return c.json({ shipments: await findShipments(pool, 'order_id', uuidField('orderId', orderId)) });
  });
  routes.post('/shipments/:id/status', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const update = parseTrackingUpdate(await readJsonObject(c));
    return c.json(await producer.transaction((tx) => trackShipment(tx, id, update.status, update.estimatedDeliveryAt)));
  });
  return routes;
}
