import { randomUUID } from 'node:crypto';
import type { ModuleAudit } from '../../host/module.js';
import { systemErrorReported } from '../../contracts/notification.js';
import { orderPlaced, type OrderPlaced } from '../../contracts/order.js';

/**
 * How `datasync audit` proves Analytics' cells:
 * - producer: an alert check through its API whose minimum cannot be met → a
 *   notification.system-error.reported (key `analytics`) in its outbox; Notification consumes it.
 * - consumer (order.order.placed): an order whose figures add up; its effect is its fact row.
 *   Refused: the same order with a total that is not subtotal − discount + shipping + tax.
 */

function order(total: string): OrderPlaced {
  return {
    id: randomUUID(), customerId: randomUUID(), email: 'audit@example.com', status: 'pending', currency: 'EUR',
    lines: [{ productId: randomUUID(), sku: 'AUDIT-1', quantity: 2, unitPrice: '9.99' }],
    subtotal: '19.98', discountTotal: '2.00', shippingTotal: '4.95', taxTotal: '3.80', total,
    shippingAddress: { line1: '1 Audit Street', city: 'Berlin', postalCode: '10115', country: 'DE', recipientName: 'Audit Probe' },
    checkoutId: randomUUID(), version: 1, placedAt: new Date().toISOString(),
  };
}

/** Analytics' probes. */
export const analyticsAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const reply = await api.request('analytics', 'POST', '/analytics/alerts/check', { metric: 'ordersPlaced', minimum: 1_000_000_000, windowMinutes: 1 });
      if (reply.status !== 200 || !(reply.body as { alert?: unknown } | undefined)?.alert) throw new Error(`POST /analytics/alerts/check raised no alert (${reply.status}: ${JSON.stringify(reply.body)})`);
      return { topic: systemErrorReported, key: 'analytics' };
    },
  },
  consume: {
    topic: orderPlaced,
    async valid() {
      return order('26.73');
    },
    async failing() {
      return order('30.00');
    },
    async effects(db, data: OrderPlaced) {
      const { rows: [row] } = await db.query<{ count: string }>(
        "SELECT count(*) FROM analytics.facts WHERE kind = 'order_placed' AND entity_id = $1", [data.id],
      );
      return Number(row!.count);
    },
  },
};
