import { randomUUID } from 'node:crypto';
import type { ModuleAudit } from '../../host/module.js';
import { locationCreated } from '../../contracts/location.js';
import { stockChanged, type StockChanged } from '../../contracts/warehouse.js';
import { DEFAULT_WAREHOUSE } from './locations.js';

/**
 * How `datasync audit` proves Location's cells: it opens a store (producer; Fulfillment
 * consumes it), and keeps a product's stock at the default warehouse once while holding then
 * dead-lettering stock at a location it does not have (consumer).
 */

function stock(warehouseId: string): StockChanged {
  return {
    productId: randomUUID(), warehouseId, onHand: 5, reserved: 2, available: 3, reason: 'reserved', version: 1, changedAt: new Date().toISOString(),
  };
}

export const locationAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const reply = await api.request('location', 'POST', '/locations', {
        type: 'store', name: 'Audit corner shop', timeZone: 'Europe/Berlin',
        address: { line1: '2 Audit Lane', city: 'Hamburg', postalCode: '20095', country: 'DE' },
      });
      if (reply.status !== 201) throw new Error(`POST /locations answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      return { topic: locationCreated, key: (reply.body as { id: string }).id };
    },
  },
  consume: {
    topic: stockChanged,
    valid: async () => stock(DEFAULT_WAREHOUSE.id),
    // a location Location never had: held, retried, then dead-lettered naming the location
    failing: async () => stock(randomUUID()),
    async effects(db, data: StockChanged) {
      const { rows: [row] } = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM location.stock WHERE location_id = $1 AND product_id = $2 AND version = $3',
        [data.warehouseId, data.productId, data.version],
      );
      return row!.n;
    },
  },
};
