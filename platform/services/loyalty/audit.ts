import { randomUUID } from 'node:crypto';
import type { ModuleAudit } from '../../host/module.js';
import { tierChanged } from '../../contracts/loyalty.js';
import { orderPlaced, type OrderPlaced } from '../../contracts/order.js';
import { TIER_THRESHOLDS } from './accounts.js';

/**
 * Loyalty's probes for `datasync audit`. The producer probe adjusts a new customer's points
 * past the silver threshold, so the account's tier moves (Customer consumes
 * `loyalty.account.tier-changed`; `points-changed` has no subscriber); the customer is created
 * through Customer's API first, as Loyalty asks Customer about a customer it has no account
 * for. The consumer probe is a placed order (remembered until delivered); its failing twin's
 * total does not add up.
 */

function order(total: string): OrderPlaced {
  return {
    id: randomUUID(), customerId: randomUUID(), email: 'audit-probe@example.com', status: 'pending', currency: 'EUR',
    lines: [{ productId: randomUUID(), sku: 'AUDIT-PROBE', quantity: 2, unitPrice: '10.00' }],
    subtotal: '20.00', discountTotal: '0', shippingTotal: '4.90', taxTotal: '0', total,
    shippingAddress: { line1: '1 Probe Street', city: 'Berlin', postalCode: '10115', country: 'DE', recipientName: 'Audit Probe' },
    checkoutId: randomUUID(), version: 1, placedAt: new Date().toISOString(),
  };
}

const SILVER = TIER_THRESHOLDS.find(([tier]) => tier === 'silver')![1];

export const loyaltyAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const customer = await api.request('customer', 'POST', '/customers', { email: `audit-${randomUUID()}@example.com`, firstName: 'Audit', lastName: 'Probe' });
      if (customer.status !== 201) throw new Error(`POST /customers answered ${customer.status}: ${JSON.stringify(customer.body)}`);
      const customerId = (customer.body as { id: string }).id;
      const reply = await api.request('loyalty', 'POST', `/loyalty/accounts/${customerId}/adjust`, { points: SILVER, reason: 'audit probe' });
      if (reply.status !== 200) throw new Error(`POST /loyalty/accounts/${customerId}/adjust answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      return { topic: tierChanged, key: (reply.body as { accountId: string }).accountId };
    },
  },
  consume: {
    topic: orderPlaced,
    async valid() {
      return order('24.90');
    },
    /** Totals that do not add up (20.00 + 4.90 ≠ 30.00): refused (orders.ts). */
    async failing() {
      return order('30.00');
    },
    async effects(db, data: OrderPlaced) {
      const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM loyalty.orders WHERE order_id = $1 AND version = $2', [data.id, data.version]);
      return row!.n;
    },
  },
};
