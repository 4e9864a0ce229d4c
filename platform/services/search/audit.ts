import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditApi, ModuleAudit } from '../../host/module.js';
import { priceUpdated, type PriceUpdated } from '../../contracts/pricing.js';
import { productInvalidated } from '../../contracts/search.js';
import type { ProductView } from './query.js';
import { pollUntil } from '../../audit/poll.js';

/**
 * How `datasync audit` proves Search's cells (platform/host/module.ts):
 * - producer: a product created through Catalog's API → Search applies it and writes
 *   search.product.invalidated (keyed by the product) to its own outbox; the Gateway consumes it.
 * - consumer (pricing.price.updated): a price of a product Search has (created through Catalog
 *   and seen in GET /search/products/:id); its effect is the invalidation Search published for it.
 *   Refused: a price of a product no one created: held, retried, then dead-lettered naming it.
 * - cache: GET /search/products/:id cached; a new price through Pricing's API → the next read shows it.
 */

/** How long a probe waits for Search to have a product. */
const WAIT_MS = 15_000;

/** Creates a product through Catalog's API (SKU `AUDIT-…`) and returns its id. */
async function createProduct(api: AuditApi): Promise<string> {
  const sku = `AUDIT-${randomBytes(5).toString('hex').toUpperCase()}`;
  const reply = await api.request('catalog', 'POST', '/catalog/products', { sku, name: `Audit kettle ${sku}`, description: 'A kettle the audit created' });
  if (reply.status !== 201) throw new Error(`POST /catalog/products answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return (reply.body as { id: string }).id;
}

/** Polls Search's view of the product until `ready(body)` holds; fails naming what it waited for. */
async function untilSearchShows(api: AuditApi, id: string, what: string, ready: (body: unknown) => boolean): Promise<void> {
  await pollUntil(`${what} of product ${id} in Search's view`, async () => {
    const reply = await api.request('search', 'GET', `/search/products/${id}`);
    return reply.status === 200 && ready(reply.body) ? true : undefined;
  }, WAIT_MS);
}

function price(productId: string, amount: string, version: number): PriceUpdated {
  const now = new Date().toISOString();
  return { productId, currency: 'EUR', listAmount: amount, amount, version, effectiveFrom: now, updatedAt: now };
}

/** Search's probes. */
export const searchAudit: ModuleAudit = {
  produce: {
    async run(api) {
      return { topic: productInvalidated, key: await createProduct(api) };
    },
  },
  consume: {
    topic: priceUpdated,
    async valid(api) {
      const id = await createProduct(api);
      await untilSearchShows(api, id, 'the product', () => true);
      return price(id, '9.99', 1);
    },
    async failing() {
      return price(randomUUID(), '9.99', 1);
    },
    async effects(db, data: PriceUpdated) {
      const { rows: [row] } = await db.query<{ count: string }>(
        `SELECT count(*) FROM search.outbox WHERE topic = $1 AND partition_key = $2
           AND envelope->'data'->>'cause' = 'price' AND (envelope->'data'->>'sourceVersion')::bigint = $3`,
        [productInvalidated.name, data.productId, data.version],
      );
      return Number(row!.count);
    },
  },
  cache: {
    async prepare(api) {
      const id = await createProduct(api);
      const set = async (amount: string): Promise<void> => {
        const reply = await api.request('pricing', 'PUT', `/pricing/prices/${id}`, { amount, currency: 'EUR' });
        if (reply.status !== 200) throw new Error(`PUT /pricing/prices/${id} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      };
      await untilSearchShows(api, id, 'the product', () => true);
      await set('10.00');
      await untilSearchShows(api, id, 'the price 10.00', (body) => (body as ProductView).price?.amount === '10.00');
      return {
        service: 'search',
        path: `/search/products/${id}`,
        change: () => set('12.50'),
        changed: (body) => (body as ProductView | undefined)?.price?.amount === '12.50',
      };
    },
  },
};
