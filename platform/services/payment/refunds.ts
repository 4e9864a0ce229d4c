import { randomBytes, randomUUID } from 'node:crypto';
import { PermanentError, RetryLaterError } from 'datasync/core';
import { on, type Producer, type Subscription } from 'datasync/runtime';
import type { ServiceDirectory } from '../../host/module.js';
import { refundCompleted } from '../../contracts/payment.js';
import { returnReceived, type ReturnReceived } from '../../contracts/return.js';
import { formatAmount, multiplyAmount, toMinorUnits } from '../../contracts/money.js';
import { findPayment } from './payments.js';

/**
 * Refunds for returns: when returned goods arrive (`return.return.received`), Payment pays
 * back the returned units at the unit prices the order charged (Order's API, `GET
 * /orders/:id`; shipping is not refunded; damaged units are refunded too, the return was
 * accepted) through the simulated PSP, against the order's captured payment, and publishes
 * `payment.refund.completed`. One refund per return (a return received again changes
 * nothing). No captured payment for the order, or an order Order does not know: held,
 * retried, then dead-lettered. A returned product the order does not have, more units than
 * it has, or refunds above the captured amount: dead-lettered at once.
 */

/** How long a return whose payment is not captured (or known) yet is held before the next try. */
export const REFUND_HOLD_MS = 1_000;

interface OrderLines { lines: { productId: string; quantity: number; unitPrice: string }[] }

async function orderLines(services: ServiceDirectory, orderId: string, returnId: string): Promise<OrderLines> {
  const response = await services.fetch('order', `/orders/${orderId}`);
  if (response.status === 404) throw new RetryLaterError(`return ${returnId}: order ${orderId} is not known to Order`, { delayMs: REFUND_HOLD_MS });
  if (!response.ok) throw new Error(`return ${returnId}: GET /orders/${orderId} answered ${response.status}`);
  return await response.json() as OrderLines;
}

/** Payment's consumer of received returns. */
export function refundHandler(producer: Producer, services: ServiceDirectory): Subscription<ReturnReceived> {
  return on(returnReceived, async ({ event, tx }) => {
    const received = event.data;
    const { rowCount: refunded } = await tx.query('SELECT 1 FROM payment.refunds WHERE return_id = $1', [received.id]);
    if (refunded !== 0) return 'stale';
    const payment = await findPayment(tx, "p.order_id = $1 AND p.status = 'captured'", received.orderId, true);
    if (!payment) throw new RetryLaterError(`return ${received.id}: order ${received.orderId} has no captured payment to refund`, { delayMs: REFUND_HOLD_MS });

    const order = await orderLines(services, received.orderId, received.id);
    let amount = 0n;
    for (const line of received.lines) {
      const ordered = order.lines.find((orderLine) => orderLine.productId === line.productId);
      if (!ordered) throw new PermanentError(`return ${received.id}: order ${received.orderId} has no product ${line.productId}`);
      if (line.quantity > ordered.quantity) throw new PermanentError(`return ${received.id}: ${line.quantity} units of product ${line.productId} returned, order ${received.orderId} has ${ordered.quantity}`);
      amount += multiplyAmount(ordered.unitPrice, line.quantity);
    }
    if (toMinorUnits(payment.refunded) + amount > toMinorUnits(payment.amount)) {
      throw new PermanentError(`return ${received.id}: refunding ${formatAmount(amount)} ${payment.currency} would exceed payment ${payment.id}'s ${payment.amount} (${payment.refunded} refunded already)`);
    }
    if (amount === 0n) return; // free items: nothing to pay back

    const id = randomUUID();
    const pspReference = `psp_rf_${randomBytes(12).toString('hex')}`;
    const { rows: [row] } = await tx.query<{ completed_at: Date }>(
      `INSERT INTO payment.refunds (id, payment_id, order_id, return_id, currency, amount, psp_reference, source_event_id, completed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) RETURNING completed_at`,
      [id, payment.id, received.orderId, received.id, payment.currency, formatAmount(amount), pspReference, event.id],
    );
    await producer.publishWithin(tx, refundCompleted, {
      id, paymentId: payment.id, orderId: received.orderId, returnId: received.id, currency: payment.currency, amount: formatAmount(amount),
      pspReference, version: 1, completedAt: row!.completed_at.toISOString(),
    }, { causationId: event.id });
  });
}
