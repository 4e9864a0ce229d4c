import { randomBytes, randomUUID } from 'node:crypto';
import type { ConsumeProbe, ModuleAudit } from '../../host/module.js';
import { checkoutAbandoned } from '../../contracts/checkout.js';
import { priceUpdated, type PriceUpdated } from '../../contracts/pricing.js';
import { expectStatus } from '../order/probes.js';
import { pollUntil } from '../../audit/poll.js';
import type { CheckoutSession } from './sessions.js';

/** `datasync audit`'s probes of Checkout. */

function price(amount: string, listAmount: string): PriceUpdated {
  const now = new Date().toISOString();
  return { productId: randomUUID(), currency: 'EUR', listAmount, amount, version: 1, effectiveFrom: now, updatedAt: now };
}

const consumePrice: ConsumeProbe<PriceUpdated> = {
  topic: priceUpdated,
  // a price of a product of its own (Checkout keeps prices of products it has not seen elsewhere)
  valid: async () => price('9.99', '12.00'),
  // a selling price above the list price breaks Pricing's contract: dead-lettered
  failing: async () => price('15.00', '12.00'),
  effects: async (db, data) => {
    const { rows: [row] } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM checkout.prices WHERE product_id = $1 AND currency = $2 AND version = $3',
      [data.productId, data.currency, data.version],
    );
    return row!.n;
  },
};

/**
 * Checkout's audit: it opens a session for a product priced in Pricing and stocked in Warehouse
 * and abandons it (checkout.session.abandoned, which Notification consumes), and keeps prices.
 */
export const checkoutAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const tag = randomBytes(4).toString('hex').toUpperCase();
      const product = await expectStatus<{ id: string }>(api, 'catalog', 'POST', '/catalog/products', { sku: `PRB-${tag}`, name: `Audit probe ${tag}` }, [201]);
      await expectStatus(api, 'pricing', 'PUT', `/pricing/prices/${product.id}`, { amount: '7.25', currency: 'EUR' }, [200]);
      await expectStatus(api, 'warehouse', 'POST', `/warehouse/stock/${product.id}/adjust`, { delta: 10, reason: 'received' }, [200]);
      const body = { customerId: randomUUID(), items: [{ productId: product.id, quantity: 1 }] };
      const session = await pollUntil('Checkout to know the probe product\'s price and stock', async () => {
        const reply = await api.request('checkout', 'POST', '/checkout/sessions', body);
        if (reply.status === 201) return reply.body as CheckoutSession;
        if (reply.status !== 422 && reply.status !== 409) throw new Error(`POST /checkout/sessions answered ${reply.status} ${JSON.stringify(reply.body)}`);
        return undefined;
      });
      await expectStatus(api, 'checkout', 'POST', `/checkout/sessions/${session.id}/abandon`, undefined, [200]);
      return { topic: checkoutAbandoned, key: session.id };
    },
  },
  consume: consumePrice,
};
