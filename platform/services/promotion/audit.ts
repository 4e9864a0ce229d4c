import { randomBytes, randomUUID } from 'node:crypto';
import type { ModuleAudit } from '../../host/module.js';
import { productCreated, type Product } from '../../contracts/catalog.js';
import { promotionCreated } from '../../contracts/promotion.js';

/**
 * How `datasync audit` proves Promotion's cells: it creates a promotion by category (producer;
 * Pricing consumes it), and keeps a new product in its copy once while dead-letters a
 * "created" product whose version is not 1 (consumer).
 */

function product(version: number): Product {
  return {
    id: randomUUID(), sku: `AUD-${randomBytes(5).toString('hex').toUpperCase()}`, name: 'Audit whisk', category: 'audit',
    status: 'active', version, updatedAt: new Date().toISOString(),
  };
}

export const promotionAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const reply = await api.request('promotion', 'POST', '/promotions', {
        name: 'Audit 5% off', status: 'active', discountType: 'percentage', value: '5', categories: ['audit'],
      });
      if (reply.status !== 201) throw new Error(`POST /promotions answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      return { topic: promotionCreated, key: (reply.body as { id: string }).id };
    },
  },
  consume: {
    topic: productCreated,
    valid: async () => product(1),
    // Catalog creates products at version 1: a "created" at 7 breaks that rule
    failing: async () => product(7),
    async effects(db, data: Product) {
      const { rows: [row] } = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM promotion.products WHERE id = $1 AND version = $2 AND NOT deleted',
        [data.id, data.version],
      );
      return row!.n;
    },
  },
};
