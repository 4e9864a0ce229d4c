import { randomUUID } from 'node:crypto';
import type { AuditApi, ModuleAudit } from '../../host/module.js';
import { priceUpdated } from '../../contracts/pricing.js';
import { promotionCreated, type Promotion } from '../../contracts/promotion.js';
import { createAuditProduct } from '../catalog/audit.js';
import type { PriceView } from './view.js';

/**
 * How `datasync audit` proves Pricing's cells: it sets a price (producer), applies a new
 * promotion once and dead-letters one whose percentage is above 100 (consumer), and sees its
 * cached prices rebuilt after a promotion created through Promotion's API (cache).
 */

/** A product Catalog has, priced at `amount` EUR through Pricing's API; resolves with its id. */
async function pricedProduct(api: AuditApi, amount: string): Promise<string> {
  const productId = await createAuditProduct(api, 'Audit teapot');
  const reply = await api.request('pricing', 'PUT', `/pricing/prices/${productId}`, { amount, currency: 'EUR' });
  if (reply.status !== 200) throw new Error(`PUT /pricing/prices/${productId} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return productId;
}

function promotion(productId: string, value: string): Promotion {
  const now = Date.now();
  return {
    id: randomUUID(), name: `Audit ${value}% off`, status: 'active', discountType: 'percentage', value,
    productIds: [productId], categories: [], startsAt: new Date(now - 60_000).toISOString(), version: 1, updatedAt: new Date(now).toISOString(),
  };
}

export const pricingAudit: ModuleAudit = {
  produce: {
    async run(api) {
      return { topic: priceUpdated, key: await pricedProduct(api, '19.99') };
    },
  },
  consume: {
    topic: promotionCreated,
    valid: async (api) => promotion(await pricedProduct(api, '20.00'), '10'),
    // schema-valid, but a percentage above 100 would make the price negative
    failing: async () => promotion(randomUUID(), '150'),
    async effects(db, data: Promotion) {
      const { rows: [row] } = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pricing.promotions WHERE id = $1 AND version = $2 AND NOT deleted',
        [data.id, data.version],
      );
      return row!.n;
    },
  },
  cache: {
    async prepare(api) {
      const productId = await pricedProduct(api, '40.00');
      return {
        service: 'pricing',
        path: `/pricing/prices/${productId}`,
        async change() {
          const reply = await api.request('promotion', 'POST', '/promotions', {
            name: 'Audit quarter off', status: 'active', discountType: 'percentage', value: '25', productIds: [productId],
          });
          if (reply.status !== 201) throw new Error(`POST /promotions answered ${reply.status}: ${JSON.stringify(reply.body)}`);
        },
        changed: (body: PriceView | undefined) => body?.prices.some((price) => price.currency === 'EUR' && price.amount === '30.00') === true,
      };
    },
  },
};
