import type { CloudEvent } from 'datasync';
import { PermanentError } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import type { HandlerResult } from 'datasync/runtime';
import type { OrderPlaced } from '../../contracts/order.js';

/**
 * Analytics' facts: one row per consumed event, keyed by the event id, holding only what the
 * reports count (kind, entity id, UTC day, and for orders the currency, total and status; for
 * page views the product). Counts are derived from these rows, so a redelivered event (same id)
 * can never count twice: the runtime's processed_events drops it first, and the primary key
 * would refuse it anyway (for instance after processed_events were purged and an old range was
 * replayed). No field marked `x-pii` (emails, names, addresses, phone numbers, user agents)
 * and no payload is stored: a fact is built from named, non-personal fields only.
 */

/** The facts table. */
export const factsTable: Migration = {
  id: 'analytics_0001_facts',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.facts (
    event_id     text PRIMARY KEY,
    kind         text NOT NULL,
    entity_id    text NOT NULL,
    day          date NOT NULL,         -- UTC day the fact happened (the event's own time field)
    occurred_at  timestamptz NOT NULL,
    currency     char(3),               -- order_placed
    amount       numeric,               -- order_placed: the order total
    status       text,                  -- order_status_changed: the new status
    product_id   text,                  -- page_viewed: the product of a product page
    recorded_at  timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS facts_day_kind ON {schema}.facts (day, kind);
  CREATE INDEX IF NOT EXISTS facts_kind_entity ON {schema}.facts (kind, entity_id);
  CREATE INDEX IF NOT EXISTS facts_kind_occurred_at ON {schema}.facts (kind, occurred_at)`,
};

/** What a fact records. */
export type FactKind =
  | 'order_placed' | 'order_status_changed'
  | 'product_created' | 'product_updated' | 'product_deleted'
  | 'customer_created' | 'customer_updated' | 'customer_deleted'
  | 'page_viewed';

/** One fact, before it is written. */
export interface Fact {
  readonly kind: FactKind;
  readonly entityId: string;
  readonly occurredAt: string;
  readonly currency?: string;
  readonly amount?: string;
  readonly status?: string;
  readonly productId?: string;
}

/** Writes the event's fact unless one for this event id is there already (then `stale`). */
export async function recordFact(tx: SqlExecutor, event: CloudEvent, fact: Fact): Promise<HandlerResult> {
  const { rowCount } = await tx.query(
    `INSERT INTO analytics.facts (event_id, kind, entity_id, day, occurred_at, currency, amount, status, product_id)
     VALUES ($1, $2, $3, ($4::timestamptz AT TIME ZONE 'UTC')::date, $4, $5, $6::numeric, $7, $8)
     ON CONFLICT (event_id) DO NOTHING`,
    [event.id, fact.kind, fact.entityId, fact.occurredAt, fact.currency ?? null, fact.amount ?? null, fact.status ?? null, fact.productId ?? null],
  );
  return rowCount === 1 ? 'applied' : 'stale';
}

/** Decimals an amount may have (the contracts' `amount`). */
const SCALE = 4;

/** A decimal string as an integer number of 1/10,000 units, exactly. */
function units(amount: string): bigint {
  const [whole, fraction = ''] = amount.split('.');
  return BigInt(whole!) * 10n ** BigInt(SCALE) + BigInt(fraction.padEnd(SCALE, '0'));
}

/** Units back to a decimal string, trailing zeros removed. */
function decimal(value: bigint): string {
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  const whole = abs / 10n ** BigInt(SCALE);
  const fraction = (abs % 10n ** BigInt(SCALE)).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

/**
 * The order's figures must add up, or its revenue would be wrong in every report: the subtotal
 * is the sum of the lines (quantity × unit price), the discount at most the subtotal, and the
 * total = subtotal − discount + shipping + tax. Throws a PermanentError naming the figures.
 */
export function checkOrderTotals(order: OrderPlaced): void {
  const lines = order.lines.reduce((sum, line) => sum + BigInt(line.quantity) * units(line.unitPrice), 0n);
  const subtotal = units(order.subtotal);
  if (lines !== subtotal) {
    throw new PermanentError(`order ${order.id}: subtotal ${order.subtotal} is not the sum of its lines (${decimal(lines)}); its revenue cannot be counted`);
  }
  const discount = units(order.discountTotal);
  if (discount > subtotal) {
    throw new PermanentError(`order ${order.id}: discount ${order.discountTotal} exceeds the subtotal ${order.subtotal}; its revenue cannot be counted`);
  }
  const expected = subtotal - discount + units(order.shippingTotal) + units(order.taxTotal);
  if (expected !== units(order.total)) {
    throw new PermanentError(
      `order ${order.id}: total ${order.total} is not subtotal − discount + shipping + tax `
      + `(${order.subtotal} − ${order.discountTotal} + ${order.shippingTotal} + ${order.taxTotal} = ${decimal(expected)}); its revenue cannot be counted`,
    );
  }
}
