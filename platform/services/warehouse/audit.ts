import { randomUUID } from 'node:crypto';
import type { AuditApi, ModuleAudit } from '../../host/module.js';
import { orderPlaced, type OrderPlaced } from '../../contracts/order.js';
import { stockChanged } from '../../contracts/warehouse.js';
import { createAuditProduct } from '../catalog/audit.js';
import type { StockView } from './view.js';
import { pollUntil } from '../../audit/poll.js';

/**
 * How `datasync audit` proves Warehouse's cells: it receives units of a new product
 * (producer), reserves stock for a placed order once and holds then dead-letters an order for
 * a product it does not know (consumer), and sees its cached stock view rebuilt after the
 * product is renamed in Catalog (cache).
 */

/** A product Catalog has, with `units` received through Warehouse's API; resolves with its id. */
async function stockedProduct(api: AuditApi, units: number): Promise<string> {
  const productId = await createAuditProduct(api, 'Audit ladle');
  const reply = await api.request('warehouse', 'POST', `/warehouse/stock/${productId}/adjust`, { delta: units, reason: 'received' });
  if (reply.status !== 200) throw new Error(`POST /warehouse/stock/${productId}/adjust answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return productId;
}

/** Waits until Warehouse's copy has the product (its stock view names it), so nothing else is on the way to the view. */
async function untilCopied(api: AuditApi, productId: string, timeoutMs = 15_000): Promise<void> {
  await pollUntil(`product ${productId} in Warehouse's copy`, async () => {
    const reply = await api.request('warehouse', 'GET', `/warehouse/stock/${productId}`);
    return reply.status === 200 && (reply.body as StockView).product !== null ? true : undefined;
  }, timeoutMs);
}

/** A placed order of `quantity` units of `productId`, as Order would publish it. */
export function auditOrder(productId: string, quantity: number): OrderPlaced {
  return {
    id: randomUUID(), customerId: randomUUID(), email: 'audit@example.com', status: 'pending', currency: 'EUR',
    lines: [{ productId, sku: 'AUD-1', quantity, unitPrice: '10.00' }],
    subtotal: `${10 * quantity}.00`, discountTotal: '0', shippingTotal: '0', taxTotal: '0', total: `${10 * quantity}.00`,
    shippingAddress: { line1: '1 Audit Street', city: 'Berlin', postalCode: '10115', country: 'DE', recipientName: 'Ada Audit' },
    checkoutId: randomUUID(), version: 1, placedAt: new Date().toISOString(),
  };
}

export const warehouseAudit: ModuleAudit = {
  produce: {
    async run(api) {
      return { topic: stockChanged, key: await stockedProduct(api, 5) };
    },
  },
  consume: {
    topic: orderPlaced,
    valid: async (api) => auditOrder(await stockedProduct(api, 5), 2),
    // a product Warehouse never heard of: held, retried, then dead-lettered naming the product
    failing: async () => auditOrder(randomUUID(), 1),
    async effects(db, data: OrderPlaced) {
      const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM warehouse.reservations WHERE order_id = $1', [data.id]);
      return row!.n;
    },
  },
  cache: {
    async prepare(api) {
      const productId = await stockedProduct(api, 3);
      await untilCopied(api, productId);
      const name = `Audit ladle ${randomUUID().slice(0, 8)}`;
      return {
        service: 'warehouse',
        path: `/warehouse/stock/${productId}`,
        async change() {
          const reply = await api.request('catalog', 'PUT', `/catalog/products/${productId}`, { name });
          if (reply.status !== 200) throw new Error(`PUT /catalog/products/${productId} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
        },
        changed: (body: StockView | undefined) => body?.product?.name === name,
      };
    },
  },
};
