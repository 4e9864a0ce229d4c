import { randomBytes, randomUUID } from 'node:crypto';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import type { ProducerTransaction } from 'datasync/runtime';
import { paymentAuthorized, type PaymentEvent, type PaymentStatus } from '../../contracts/payment.js';
import { ApiError } from '../../http/errors.js';
import { normalizeAmount } from '../../contracts/money.js';

/**
 * Payment's own data: payments against orders (authorized by the simulated PSP, then captured
 * or failed by the PSP's webhooks), the PSP events applied (one row per PSP event id: the
 * de-duplication of webhooks the PSP sends twice) and refunds.
 */

/** Payment's tables. */
export const paymentMigrations: readonly Migration[] = [{
  id: 'payment_0001_payments',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.payments (
    id             uuid PRIMARY KEY,
    order_id       uuid NOT NULL,
    status         text NOT NULL CHECK (status IN ('authorized', 'captured', 'failed')),
    currency       char(3) NOT NULL,
    amount         numeric NOT NULL CHECK (amount > 0),
    method         text NOT NULL,
    psp_reference  text NOT NULL UNIQUE,
    failure_code   text,
    version        integer NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
  );
  -- at most one payment per order that is not failed: a second one would charge twice
  CREATE UNIQUE INDEX IF NOT EXISTS payments_live_per_order ON {schema}.payments (order_id) WHERE status <> 'failed';
  CREATE TABLE IF NOT EXISTS {schema}.webhook_events (
    provider         text NOT NULL,
    psp_event_id     text NOT NULL,
    payment_id       uuid NOT NULL REFERENCES {schema}.payments (id),
    event_type       text NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('applied', 'ignored')),
    source_event_id  text NOT NULL,
    applied_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, psp_event_id)
  );
  CREATE TABLE IF NOT EXISTS {schema}.refunds (
    id               uuid PRIMARY KEY,
    payment_id       uuid NOT NULL REFERENCES {schema}.payments (id),
    order_id         uuid NOT NULL,
    return_id        uuid UNIQUE,
    currency         char(3) NOT NULL,
    amount           numeric NOT NULL CHECK (amount > 0),
    psp_reference    text NOT NULL,
    source_event_id  text NOT NULL,
    completed_at     timestamptz NOT NULL
  )`,
}];

/** How a customer pays. */
export type PaymentMethod = PaymentEvent['method'];
export const PAYMENT_METHODS: readonly PaymentMethod[] = ['card', 'paypal', 'bank-transfer', 'wallet'];

/** A payment as the API shows it. */
export interface PaymentView {
  readonly id: string;
  readonly orderId: string;
  readonly status: PaymentStatus;
  readonly amount: string;
  readonly currency: string;
  readonly method: PaymentMethod;
  readonly pspReference: string;
  readonly failureCode?: string;
  /** Amount refunded so far. */
  readonly refunded: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface PaymentRow {
  id: string; order_id: string; status: PaymentStatus; currency: string; amount: string; method: PaymentMethod; psp_reference: string;
  failure_code: string | null; refunded: string; version: number; created_at: Date; updated_at: Date;
}

const COLUMNS = `id::text, order_id::text, status, currency, amount::text, method, psp_reference, failure_code, version, created_at, updated_at,
  (SELECT coalesce(sum(r.amount), 0)::text FROM payment.refunds r WHERE r.payment_id = p.id) AS refunded`;

function toView(row: PaymentRow): PaymentView {
  return {
    id: row.id, orderId: row.order_id, status: row.status, amount: normalizeAmount(row.amount), currency: row.currency.trim(), method: row.method,
    pspReference: row.psp_reference, ...(row.failure_code === null ? {} : { failureCode: row.failure_code }),
    refunded: normalizeAmount(row.refunded), version: row.version, createdAt: row.created_at.toISOString(), updatedAt: row.updated_at.toISOString(),
  };
}

/** The payment matching `where` (`id = $1`, `psp_reference = $1`, …); `lock` holds its row until the transaction ends. */
export async function findPayment(db: SqlExecutor, where: string, value: string, lock = false): Promise<PaymentView | undefined> {
  const { rows: [row] } = await db.query<PaymentRow>(`SELECT ${COLUMNS} FROM payment.payments p WHERE ${where}${lock ? ' FOR UPDATE OF p' : ''}`, [value]);
  return row ? toView(row) : undefined;
}

/** Every payment of an order, oldest first. */
export async function paymentsOfOrder(db: SqlExecutor, orderId: string): Promise<PaymentView[]> {
  const { rows } = await db.query<PaymentRow>(`SELECT ${COLUMNS} FROM payment.payments p WHERE order_id = $1 ORDER BY created_at`, [orderId]);
  return rows.map(toView);
}

/** What `POST /payment/payments` asks for (checked against the order by the routes). */
export interface NewPayment {
  readonly orderId: string;
  readonly amount: string;
  readonly currency: string;
  readonly method: PaymentMethod;
}

/**
 * Authorizes a payment with the simulated PSP (it holds the funds and returns a reference;
 * capture or failure arrive later as webhooks) and publishes `payment.payment.authorized`.
 * 409 if the order already has a payment that has not failed.
 */
export async function authorizePayment(tx: ProducerTransaction, request: NewPayment): Promise<PaymentView> {
  const id = randomUUID();
  const pspReference = `psp_${randomBytes(12).toString('hex')}`;
  try {
    await tx.query('SAVEPOINT authorize');
    await tx.query(
      `INSERT INTO payment.payments (id, order_id, status, currency, amount, method, psp_reference, version, created_at, updated_at)
       VALUES ($1, $2, 'authorized', $3, $4, $5, $6, 1, now(), now())`,
      [id, request.orderId, request.currency, request.amount, request.method, pspReference],
    );
  } catch (error) {
    if ((error as { constraint?: string }).constraint !== 'payments_live_per_order') throw error;
    await tx.query('ROLLBACK TO SAVEPOINT authorize');
    const live = (await paymentsOfOrder(tx, request.orderId)).find((payment) => payment.status !== 'failed');
    throw new ApiError(409, 'PAYMENT_EXISTS', `orderId: order ${request.orderId} already has payment ${live?.id ?? '(another)'} (${live?.status ?? 'in progress'})`, 'orderId');
  }
  const payment = (await findPayment(tx, 'p.id = $1', id))!;
  await tx.publish(paymentAuthorized, eventOf(payment));
  return payment;
}

/** The payment as its topics carry it. */
export function eventOf(payment: PaymentView): PaymentEvent {
  return {
    id: payment.id, orderId: payment.orderId, status: payment.status, currency: payment.currency, amount: payment.amount, method: payment.method,
    pspReference: payment.pspReference, ...(payment.failureCode === undefined ? {} : { failureCode: payment.failureCode }),
    version: payment.version, occurredAt: payment.updatedAt,
  };
}
