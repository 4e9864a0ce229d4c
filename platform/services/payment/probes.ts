import { randomBytes } from 'node:crypto';
import type { AuditApi, ConsumeProbe, ModuleAudit } from '../../host/module.js';
import { webhookReceived, type WebhookReceived } from '../../contracts/payment.js';
import { expectStatus, placeProbeOrder } from '../order/probes.js';
import type { PaymentView } from './payments.js';

/** `datasync audit`'s probes of Payment: both start from a real order (order/probes.ts) and its authorized payment. */

/** An authorized payment of a fresh probe order's total. */
export async function authorizeProbePayment(api: AuditApi): Promise<PaymentView> {
  const order = await placeProbeOrder(api);
  return expectStatus<PaymentView>(api, 'payment', 'POST', '/payment/payments', { orderId: order.id, amount: order.total, currency: order.currency, method: 'card' }, [201]);
}

/** A PSP notification capturing the payment with `pspReference`. */
function capture(pspReference: string, paymentId?: string): WebhookReceived {
  const id = `evt_probe_${randomBytes(8).toString('hex')}`;
  return {
    id, provider: 'stripe', eventType: 'payment.captured', ...(paymentId === undefined ? {} : { paymentId }), pspReference,
    payload: { provider: 'stripe', id, type: 'payment.captured', pspReference }, receivedAt: new Date().toISOString(),
  };
}

const consumeWebhook: ConsumeProbe<WebhookReceived> = {
  topic: webhookReceived,
  valid: async (api) => {
    const payment = await authorizeProbePayment(api);
    return capture(payment.pspReference, payment.id);
  },
  // a notification about a payment Payment never authorized: held, retried, then dead-lettered
  failing: async () => capture(`psp_unknown_${randomBytes(8).toString('hex')}`),
  effects: async (db, data) => {
    const { rows: [row] } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM payment.webhook_events WHERE provider = $1 AND psp_event_id = $2', [data.provider, data.id],
    );
    return row!.n;
  },
};

/** Payment's audit: a PSP webhook through its API (payment.webhook.received, consumed by Payment itself), and applying one. */
export const paymentAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const payment = await authorizeProbePayment(api);
      const body = { provider: 'stripe', id: `evt_probe_${randomBytes(8).toString('hex')}`, type: 'payment.captured', pspReference: payment.pspReference };
      await expectStatus(api, 'payment', 'POST', '/payment/webhooks', body, [202]);
      return { topic: webhookReceived, key: payment.pspReference };
    },
  },
  consume: consumeWebhook,
};
