import { randomUUID } from 'node:crypto';
import type { ConsumeProbe, ModuleAudit } from '../../host/module.js';
import { orderStatusChanged, type OrderStatusChanged } from '../../contracts/order.js';
import { returnReceived } from '../../contracts/return.js';
import { expectStatus, placeProbeOrder } from '../order/probes.js';
import { pollUntil } from '../../audit/poll.js';
import { shipProbeOrder } from '../shipping/probes.js';
import type { Returnable, ReturnView } from './returns.js';

/** `datasync audit`'s probes of Return. */

function delivered(orderId: string): OrderStatusChanged {
  return { id: orderId, status: 'delivered', previousStatus: 'shipped', version: 2, changedAt: new Date().toISOString() };
}

const consumeStatus: ConsumeProbe<OrderStatusChanged> = {
  topic: orderStatusChanged,
  // a placed order Return has received, now delivered: it becomes returnable
  valid: async (api) => {
    const order = await placeProbeOrder(api);
    await pollUntil(`Return to receive order ${order.id}`, async () => ((await api.request('return', 'GET', `/returns/orders/${order.id}`)).status === 200 ? true : undefined));
    return delivered(order.id);
  },
  // an order whose placement Return never received: held, retried, then dead-lettered
  failing: async () => delivered(randomUUID()),
  // the copy row at the event's version and status
  effects: async (db, data) => {
    const { rows: [row] } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM "return".orders WHERE id = $1 AND version = $2 AND status = $3', [data.id, data.version, data.status],
    );
    return row!.n;
  },
};

/** Return's audit: a return of a delivered order requested and received through its API (return.return.received, consumed by Warehouse and Payment), and the order copy. */
export const returnAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const shipment = await shipProbeOrder(api);
      for (const status of ['in-transit', 'delivered']) await expectStatus(api, 'shipping', 'POST', `/shipping/shipments/${shipment.id}/status`, { status }, [200]);
      const order = await pollUntil(`Return to see order ${shipment.orderId} delivered`, async () => {
        const reply = await api.request('return', 'GET', `/returns/orders/${shipment.orderId}`);
        const returnable = reply.body as Returnable;
        return reply.status === 200 && returnable.status === 'delivered' ? returnable : undefined;
      });
      const { productId } = order.lines[0]!;
      const requested = await expectStatus<ReturnView>(api, 'return', 'POST', '/returns', { orderId: order.orderId, lines: [{ productId, quantity: 1, reason: 'no-longer-needed' }] }, [201]);
      await expectStatus(api, 'return', 'POST', `/returns/${requested.id}/receive`, { lines: [{ productId, quantity: 1, condition: 'resellable' }] }, [200]);
      return { topic: returnReceived, key: requested.id };
    },
  },
  consume: consumeStatus,
};
