import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { AuditApi, ModuleAudit } from '../../host/module.js';
import { orderPlaced, type OrderPlaced } from '../../contracts/order.js';
import { reviewModerated } from '../../contracts/review.js';

/**
 * Review's probes for `datasync audit`. Both need a product in Review's copy of the catalog,
 * made the way the platform makes one: created through Catalog's API, then awaited in
 * Review's (`GET /reviews/products/:id`). The producer probe submits and approves a review
 * (Catalog consumes `review.review.moderated`); the consumer probe is a placed order of that
 * product (a purchase row), and its failing twin names a product no catalog has.
 */

async function request(api: AuditApi, service: string, method: string, path: string, body: unknown, expected: number): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const reply = await api.request(service, method, path, body);
  if (reply.status !== expected) throw new Error(`${method} ${path} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** A product created in Catalog, once Review's copy has it; returns its id and SKU. */
async function catalogProduct(api: AuditApi): Promise<{ id: string; sku: string }> {
  const sku = `AUDIT-${randomUUID().slice(0, 8).toUpperCase()}`;
  const product = (await request(api, 'catalog', 'POST', '/catalog/products', { sku, name: 'Audit probe product' }, 201)) as { id: string };
  const deadline = Date.now() + 15_000;
  while ((await api.request('review', 'GET', `/reviews/products/${product.id}`)).status !== 200) {
    if (Date.now() > deadline) throw new Error(`product ${product.id} created in Catalog did not reach Review's copy within 15 s`);
    await delay(50);
  }
  return { id: product.id, sku };
}

function order(product: { id: string; sku: string }): OrderPlaced {
  return {
    id: randomUUID(), customerId: randomUUID(), email: 'audit-probe@example.com', status: 'pending', currency: 'EUR',
    lines: [{ productId: product.id, sku: product.sku, quantity: 1, unitPrice: '10.00' }],
    subtotal: '10.00', discountTotal: '0', shippingTotal: '0', taxTotal: '0', total: '10.00',
    shippingAddress: { line1: '1 Probe Street', city: 'Berlin', postalCode: '10115', country: 'DE', recipientName: 'Audit Probe' },
    checkoutId: randomUUID(), version: 1, placedAt: new Date().toISOString(),
  };
}

export const reviewAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const product = await catalogProduct(api);
      const review = (await request(api, 'review', 'POST', '/reviews', {
        productId: product.id, customerId: randomUUID(), authorName: 'Audit Probe', rating: 5, body: 'Audit probe review.',
      }, 201)) as { id: string };
      await request(api, 'review', 'POST', `/reviews/${review.id}/moderate`, { status: 'approved' }, 200);
      return { topic: reviewModerated, key: review.id };
    },
  },
  consume: {
    topic: orderPlaced,
    async valid(api) {
      return order(await catalogProduct(api));
    },
    /** An order of a product no catalog has: held, then dead-lettered (events.ts). */
    async failing() {
      return order({ id: randomUUID(), sku: 'AUDIT-UNKNOWN' });
    },
    async effects(db, data: OrderPlaced) {
      const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM review.purchases WHERE order_id = $1', [data.id]);
      return row!.n;
    },
  },
};
