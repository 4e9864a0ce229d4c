import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditApi, ModuleAudit } from '../../host/module.js';
import { productCreated } from '../../contracts/catalog.js';
import { priceUpdated, type PriceUpdated } from '../../contracts/pricing.js';
import type { ProductView } from './view.js';

/**
 * How `datasync audit` proves Catalog's cells: it creates a product (producer), applies a
 * price from Pricing once and holds then dead-letters a price for a product it does not have
 * (consumer), and sees its cached product view rebuilt after a price change (cache).
 */

/** Creates a product through Catalog's API; resolves with its id. */
export async function createAuditProduct(api: AuditApi, name = 'Audit kettle'): Promise<string> {
  const reply = await api.request('catalog', 'POST', '/catalog/products', { sku: `AUD-${randomBytes(5).toString('hex').toUpperCase()}`, name });
  if (reply.status !== 201) throw new Error(`POST /catalog/products answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return (reply.body as { id: string }).id;
}

function price(productId: string, amount: string): PriceUpdated {
  const now = new Date().toISOString();
  return { productId, currency: 'EUR', listAmount: amount, amount, version: 1, effectiveFrom: now, updatedAt: now };
}

export const catalogAudit: ModuleAudit = {
  produce: {
    async run(api) {
      return { topic: productCreated, key: await createAuditProduct(api) };
    },
  },
  consume: {
    topic: priceUpdated,
    // a product Catalog has (created through its API, so it is there at once)
    valid: async (api) => price(await createAuditProduct(api), '10.00'),
    // a product Catalog never had: held, retried, then dead-lettered naming the product
    failing: async () => price(randomUUID(), '10.00'),
    async effects(db, data: PriceUpdated) {
      const { rows: [row] } = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM catalog.product_prices WHERE product_id = $1 AND currency = $2 AND version = $3',
        [data.productId, data.currency, data.version],
      );
      return row!.n;
    },
  },
  cache: {
    async prepare(api) {
      const id = await createAuditProduct(api);
      const amount = `${10 + Math.floor(Math.random() * 90)}.${String(Math.floor(Math.random() * 100)).padStart(2, '0')}`;
      return {
        service: 'catalog',
        path: `/catalog/products/${id}`,
        async change() {
          const reply = await api.request('pricing', 'PUT', `/pricing/prices/${id}`, { amount, currency: 'EUR' });
          if (reply.status !== 200) throw new Error(`PUT /pricing/prices/${id} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
        },
        changed: (body: ProductView | undefined) => body?.price?.amount === amount && body.price.currency === 'EUR',
      };
    },
  },
};
