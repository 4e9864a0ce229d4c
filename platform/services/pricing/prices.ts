import type { Migration } from 'datasync/postgres';
import type { ProducerTransaction } from 'datasync/runtime';
import { priceUpdated } from '../../contracts/pricing.js';

/**
 * Pricing's own data: the prices table, and the one change it makes to it. A change writes
 * the row and publishes `pricing.price.updated` in the caller's transaction (the
 * transactional outbox), so both commit or neither does.
 */

/**
 * The prices table, in Pricing's schema beside datasync's outbox: one price per product and
 * currency. `version` is the product's version across its currencies (as the event's
 * `version` is), so the row of the currency changed last holds the product's current version.
 */
export const pricesTable: Migration = {
  id: 'pricing_0001_prices',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.prices (
    product_id  uuid NOT NULL,
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount      numeric NOT NULL CHECK (amount >= 0),
    version     integer NOT NULL CHECK (version >= 1),
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (product_id, currency)
  )`,
};

/** A price as the API returns it. */
export interface Price {
  readonly productId: string;
  /** A decimal string, as PostgreSQL's `numeric` keeps it (e.g. `19.99`). */
  readonly amount: string;
  readonly currency: string;
  /** Pricing's version of this product's prices (all currencies). */
  readonly version: number;
}

/** What a price change sets. Callers validate: `amount` a non-negative decimal string, `currency` ISO 4217. */
export interface PriceChange {
  readonly amount: string;
  readonly currency: string;
}

/**
 * Sets the product's price in `change.currency`, gives the product's prices the next version
 * and publishes `pricing.price.updated` (list price = selling price: no promotions yet). The
 * product id is not checked against Catalog (Pricing keeps no copy of products yet).
 */
export async function setPrice(tx: ProducerTransaction, productId: string, change: PriceChange): Promise<Price> {
  // Serialises changes of one product, so its version increases by one across currencies.
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('pricing.prices:' || $1, 0))", [productId]);
  const { rows: [row] } = await tx.query<{ amount: string; version: number; updated_at: Date }>(
    `INSERT INTO pricing.prices AS p (product_id, currency, amount, version, updated_at)
     VALUES ($1, $2, $3::numeric, coalesce((SELECT max(version) FROM pricing.prices WHERE product_id = $1), 0) + 1, now())
     ON CONFLICT (product_id, currency) DO UPDATE SET amount = excluded.amount, version = excluded.version, updated_at = excluded.updated_at
     RETURNING amount::text AS amount, version, updated_at`,
    [productId, change.currency, change.amount],
  );
  const at = row!.updated_at.toISOString();
  await tx.publish(priceUpdated, {
    productId, currency: change.currency, listAmount: row!.amount, amount: row!.amount,
    version: row!.version, effectiveFrom: at, updatedAt: at,
  });
  return { productId, amount: row!.amount, currency: change.currency, version: row!.version };
}
