import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditApi, ModuleAudit } from '../../host/module.js';
import { productInvalidated, type ProductInvalidated } from '../../contracts/search.js';
import { pageViewed } from '../../contracts/storefront.js';
import { pollUntil } from '../../audit/poll.js';

/**
 * How `datasync audit` proves the Gateway's cells (the seed has both ❌; its idempotency,
 * schema, cache and DLQ cells are N/A):
 * - producer: a product created through Catalog's API, then its page read through the Gateway
 *   → storefront.page.viewed keyed by the browsing session (returned in `x-session-id`) in the
 *   Gateway's outbox; Analytics consumes it.
 * - consumer (search.product.invalidated): an invalidation of a product; its effect is the row
 *   in `gateway.invalidations`. Refused: an invalidation whose view version lies days ahead of
 *   the clock (see invalidations.ts), dead-lettered.
 */

const WAIT_MS = 15_000;

async function createProduct(api: AuditApi): Promise<string> {
  const sku = `AUDIT-${randomBytes(5).toString('hex').toUpperCase()}`;
  const reply = await api.request('catalog', 'POST', '/catalog/products', { sku, name: `Audit kettle ${sku}` });
  if (reply.status !== 201) throw new Error(`POST /catalog/products answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return (reply.body as { id: string }).id;
}

function invalidation(viewVersion: number): ProductInvalidated {
  return { productId: randomUUID(), cause: 'price', sourceVersion: 1, viewVersion, invalidatedAt: new Date().toISOString() };
}

/** The Gateway's probes. */
export const gatewayAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const id = await createProduct(api);
      return pollUntil(`GET /products/${id} answering 200`, async () => {
        const reply = await api.request('gateway', 'GET', `/products/${id}`);
        const session = reply.headers.get('x-session-id');
        return reply.status === 200 && session ? { topic: pageViewed, key: session } : undefined;
      }, WAIT_MS);
    },
  },
  consume: {
    topic: productInvalidated,
    async valid() {
      return invalidation(Date.now());
    },
    async failing() {
      return invalidation(Date.now() + 30 * 24 * 60 * 60 * 1_000);
    },
    async effects(db, data: ProductInvalidated) {
      const { rows: [row] } = await db.query<{ count: string }>(
        'SELECT count(*) FROM gateway.invalidations WHERE product_id = $1 AND view_version = $2',
        [data.productId, data.viewVersion],
      );
      return Number(row!.count);
    },
  },
};
