import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditApi, ConsumeProbe, ModuleAudit } from '../../host/module.js';
import { orderPlaced } from '../../contracts/order.js';
import { paymentCaptured, type PaymentEvent } from '../../contracts/payment.js';
import type { OrderView, ShipTo } from './orders.js';
import { pollUntil } from '../../audit/poll.js';

/**
 * `datasync audit`'s probes of Order, and the fixture the probes of the services downstream
 * of an order (Payment, Fulfillment, Shipping, Return) start from: a real pending order
 * placed through the platform's APIs (a product in Catalog, its price in Pricing, its stock in
 * Warehouse, a customer in Customer, then `POST /orders` once Order's copies have them).
 */

/** A JSON request that must answer one of `expected`; the error names the request and what came back. */
export async function expectStatus<T>(api: AuditApi, service: string, method: string, path: string, body: unknown, expected: readonly number[]): Promise<T> {
  const reply = await api.request(service, method, path, body);
  if (!expected.includes(reply.status)) throw new Error(`${method} ${path} answered ${reply.status} ${JSON.stringify(reply.body)}; expected ${expected.join(' or ')}`);
  return reply.body as T;
}

/** Where probe orders go. */
export const PROBE_SHIP_TO: ShipTo = { recipientName: 'Audit Probe', line1: 'Probestraße 1', city: 'Berlin', postalCode: '10115', country: 'DE' };

/**
 * Creates a customer through Customer's API and returns its id. The one place the probes
 * depend on Customer's routes: `POST /customers` `{"email", "firstName", "lastName"}` → 201
 * `{"id", …}`.
 */
export async function createProbeCustomer(api: AuditApi): Promise<string> {
  const tag = randomBytes(4).toString('hex');
  const customer = await expectStatus<{ id: string }>(api, 'customer', 'POST', '/customers', { email: `probe-${tag}@example.com`, firstName: 'Audit', lastName: 'Probe' }, [200, 201]);
  return customer.id;
}

/**
 * A pending order of 2 × 12.50 EUR (total 29.90 with shipping) placed through the APIs:
 * the product, price and customer are created first, then `POST /orders` is retried while
 * Order's copies still lack them (422).
 */
export async function placeProbeOrder(api: AuditApi): Promise<OrderView> {
  const tag = randomBytes(4).toString('hex').toUpperCase();
  const product = await expectStatus<{ id: string }>(api, 'catalog', 'POST', '/catalog/products', { sku: `PRB-${tag}`, name: `Audit probe ${tag}` }, [201]);
  await expectStatus(api, 'pricing', 'PUT', `/pricing/prices/${product.id}`, { amount: '12.50', currency: 'EUR' }, [200]);
  // stock in Warehouse, so it can reserve and later ship the order's units
  await expectStatus(api, 'warehouse', 'POST', `/warehouse/stock/${product.id}/adjust`, { delta: 10, reason: 'received' }, [200]);
  const customerId = await createProbeCustomer(api);
  const body = { customerId, items: [{ productId: product.id, quantity: 2 }], shippingAddress: PROBE_SHIP_TO };
  return pollUntil('Order to know the probe\'s product, price and customer', async () => {
    const reply = await api.request('order', 'POST', '/orders', body);
    if (reply.status === 201) return reply.body as OrderView;
    if (reply.status !== 422) throw new Error(`POST /orders answered ${reply.status} ${JSON.stringify(reply.body)}`);
    return undefined;
  });
}

/** Data of a capture of `order`'s full total. */
export function captureOf(order: { id: string; total: string; currency: string }, orderId = order.id): PaymentEvent {
  return {
    id: randomUUID(), orderId, status: 'captured', currency: order.currency, amount: order.total, method: 'card',
    pspReference: `psp_probe_${randomBytes(6).toString('hex')}`, version: 2, occurredAt: new Date().toISOString(),
  };
}

const consumeCapture: ConsumeProbe<PaymentEvent> = {
  topic: paymentCaptured,
  // a pending order of its own, confirmed by this capture
  valid: async (api) => captureOf(await placeProbeOrder(api)),
  // a capture for an order Order never had: held, retried, then dead-lettered
  failing: async () => captureOf({ id: randomUUID(), total: '29.90', currency: 'EUR' }),
  effects: async (db, data) => {
    const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "order".status_history WHERE cause = $1', [`${paymentCaptured.name}:${data.id}`]);
    return row!.n;
  },
};

/** Order's audit: it places an order (order.order.placed) and applies a payment capture. */
export const orderAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const order = await placeProbeOrder(api);
      return { topic: orderPlaced, key: order.id };
    },
  },
  consume: consumeCapture,
};
