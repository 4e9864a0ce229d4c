import { randomUUID } from 'node:crypto';
import type { AuditApi, ConsumeProbe, ModuleAudit } from '../../host/module.js';
import { fulfillmentStatusChanged } from '../../contracts/fulfillment.js';
import { orderStatusChanged, type OrderStatusChanged } from '../../contracts/order.js';
import { expectStatus, placeProbeOrder } from '../order/probes.js';
import { pollUntil } from '../../audit/poll.js';
import { authorizeProbePayment } from '../payment/probes.js';
import type { FulfillmentView } from './fulfillments.js';

/** `datasync audit`'s probes of Fulfillment. */

/** A fulfillment of a probe order paid in full (Order confirms it on the capture, Fulfillment creates it). */
export async function probeFulfillment(api: AuditApi): Promise<FulfillmentView> {
  const payment = await authorizeProbePayment(api);
  await expectStatus(api, 'payment', 'POST', '/payment/webhooks', { provider: 'stripe', id: `evt_probe_${randomUUID()}`, type: 'payment.captured', pspReference: payment.pspReference }, [202]);
  return pollUntil(`a fulfillment of order ${payment.orderId}`, async () => {
    const { fulfillments } = await expectStatus<{ fulfillments: FulfillmentView[] }>(api, 'fulfillment', 'GET', `/fulfillment/fulfillments?orderId=${payment.orderId}`, undefined, [200]);
    return fulfillments[0];
  });
}

function confirmed(orderId: string): OrderStatusChanged {
  return { id: orderId, status: 'confirmed', previousStatus: 'pending', version: 2, changedAt: new Date().toISOString() };
}

const consumeStatus: ConsumeProbe<OrderStatusChanged> = {
  topic: orderStatusChanged,
  // a placed order Fulfillment has received, confirmed: it creates the order's fulfillment
  valid: async (api) => {
    const order = await placeProbeOrder(api);
    await pollUntil(`Fulfillment to receive order ${order.id}`, async () => ((await api.request('fulfillment', 'GET', `/fulfillment/orders/${order.id}`)).status === 200 ? true : undefined));
    return confirmed(order.id);
  },
  // an order whose placement Fulfillment never received: held, retried, then dead-lettered
  failing: async () => confirmed(randomUUID()),
  effects: async (db, data) => {
    const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fulfillment.fulfillments WHERE order_id = $1', [data.id]);
    return row!.n;
  },
};

/** Fulfillment's audit: it starts picking a paid order's fulfillment (fulfillment.fulfillment.status-changed), and creates one on a confirmation. */
export const fulfillmentAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const fulfillment = await probeFulfillment(api);
      await expectStatus(api, 'fulfillment', 'POST', `/fulfillment/fulfillments/${fulfillment.id}/status`, { status: 'picking' }, [200]);
      return { topic: fulfillmentStatusChanged, key: fulfillment.id };
    },
  },
  consume: consumeStatus,
};
