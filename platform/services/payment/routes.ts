import { Hono } from 'hono';
import type { SqlPool } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import type { ServiceDirectory } from '../../host/module.js';
import { webhookReceived } from '../../contracts/payment.js';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { amountField, checkFields, currencyField, enumField, uuidField } from '../../http/fields.js';
import { toMinorUnits } from '../../contracts/money.js';
import { authorizePayment, findPayment, PAYMENT_METHODS, paymentsOfOrder, type NewPayment } from './payments.js';
import { parseWebhook, SIGNATURE_HEADER, verifySignature } from './webhooks.js';

/**
 * Payment's HTTP routes, mounted at `/payment`.
 *
 *   POST /payment/payments             {"orderId", "amount": "29.90", "currency": "EUR", "method": "card"|"paypal"|"bank-transfer"|"wallet"}
 *                                      → 201 the authorized payment (with its `pspReference`); 422 unknown order (`orderId`),
 *                                      other currency (`currency`) or amount than the order's total (`amount`);
 *                                      409 the order is not pending or already has a payment that has not failed
 *   GET  /payment/payments/:id         → 200 the payment, 404
 *   GET  /payment/payments?orderId=…   → 200 {"payments": [...]} of the order
 *   POST /payment/webhooks             the PSP's notification (webhooks.ts) → 202 {"accepted": true, "id"}; 401 bad signature
 */

interface OrderSummary { status: string; total: string; currency: string }

/** The order being paid, through Order's API; 422 naming `orderId` if Order does not know it. */
async function orderToPay(services: ServiceDirectory, orderId: string): Promise<OrderSummary> {
  let response: Response;
  try {
    response = await services.fetch('order', `/orders/${orderId}`);
  } catch (error) {
    throw new ApiError(503, 'ORDER_UNAVAILABLE', `the order service did not answer: ${(error as Error).message}`);
  }
  if (response.status === 404) throw new ApiError(422, 'UNKNOWN_ORDER', `orderId: no order ${orderId}`, 'orderId');
  if (!response.ok) throw new ApiError(502, 'ORDER_FAILED', `the order service answered ${response.status}`);
  return await response.json() as OrderSummary;
}

/** The body of `POST /payment/payments`; throws a 400 ApiError naming the first bad field. */
export function parseNewPayment(body: Record<string, unknown>): NewPayment {
  checkFields(body, ['orderId', 'amount', 'currency', 'method']);
  const amount = amountField('amount', body.amount);
  if (toMinorUnits(amount) === 0n) throw invalidField('amount', 'must be more than 0');
  return { orderId: uuidField('orderId', body.orderId), amount, currency: currencyField('currency', body.currency), method: enumField('method', body.method, PAYMENT_METHODS) };
}

/** Payment's routes. `webhookSecret`: verify the PSP's signature when set (`PAYMENT_WEBHOOK_SECRET`); unsigned notifications are taken otherwise (the simulated PSP). */
export function paymentRoutes({ producer, pool, services, webhookSecret }: {
  readonly producer: Producer; readonly pool: SqlPool; readonly services: ServiceDirectory; readonly webhookSecret?: string;
}): Hono {
  const routes = new Hono();
  routes.post('/payments', async (c) => {
    const request = parseNewPayment(await readJsonObject(c));
    const order = await orderToPay(services, request.orderId);
    if (order.status !== 'pending') throw new ApiError(409, 'ORDER_NOT_PAYABLE', `orderId: order ${request.orderId} is ${order.status}; only pending orders are paid`, 'orderId');
    if (order.currency !== request.currency) throw new ApiError(422, 'CURRENCY_MISMATCH', `currency: order ${request.orderId} is in ${order.currency}`, 'currency');
    if (toMinorUnits(order.total) !== toMinorUnits(request.amount)) throw new ApiError(422, 'AMOUNT_MISMATCH', `amount: order ${request.orderId}'s total is ${order.total} ${order.currency}`, 'amount');
    return c.json(await producer.transaction((tx) => authorizePayment(tx, request)), 201);
  });
  routes.get('/payments/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const payment = await findPayment(pool, 'p.id = $1', id);
    if (!payment) throw new ApiError(404, 'NOT_FOUND', `id: no payment ${id}`, 'id');
    return c.json(payment);
  });
  routes.get('/payments', async (c) => {
    const orderId = c.req.query('orderId');
    if (orderId === undefined) throw invalidField('orderId', 'is required (GET /payment/payments?orderId=…)', 'MISSING_FIELD');
    return c.json({ payments: await paymentsOfOrder(pool, uuidField('orderId', orderId)) });
  });
  routes.post('/webhooks', async (c) => {
    const raw = await c.req.text();
    if (webhookSecret !== undefined) verifySignature(webhookSecret, raw, c.req.header(SIGNATURE_HEADER));
    let payload: unknown;
    try {
      payload = JSON.parse(raw);
    } catch (cause) {
      throw new ApiError(400, 'INVALID_JSON', `body: not valid JSON (${(cause as Error).message})`, 'body');
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new ApiError(400, 'INVALID_BODY', 'body: expected a JSON object', 'body');
    const hook = parseWebhook(payload as Record<string, unknown>, new Date().toISOString());
    await producer.transaction(async (tx) => {
      const payment = await findPayment(tx, 'p.psp_reference = $1', hook.pspReference);
      await tx.publish(webhookReceived, { ...hook, ...(payment ? { paymentId: payment.id } : {}) });
    });
    return c.json({ accepted: true, id: hook.id }, 202);
  });
  return routes;
}
