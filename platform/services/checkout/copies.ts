import { PermanentError } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription } from 'datasync/runtime';
import { priceUpdated } from '../../contracts/pricing.js';
import { stockChanged } from '../../contracts/warehouse.js';
import { toMinorUnits } from '../../contracts/money.js';

/**
 * Checkout's copies of prices (pricing.price.updated, per product and currency) and stock
 * (warehouse.stock.changed, per product and warehouse), to price carts and refuse what is
 * out of stock without asking Pricing or Warehouse. Version-based: a row changes only for a
 * higher owner version (both owners keep one version per product, across currencies or
 * warehouses, so an older event for the same row is always lower).
 */

/** The copy tables. */
export const copyTables: Migration = {
  id: 'checkout_0001_copies',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.prices (
    product_id  text NOT NULL,
    currency    char(3) NOT NULL,
    amount      numeric NOT NULL CHECK (amount >= 0),
    version     integer NOT NULL,
    event_id    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, currency)
  );
  CREATE TABLE IF NOT EXISTS {schema}.stock (
    product_id    text NOT NULL,
    warehouse_id  text NOT NULL,
    available     integer NOT NULL CHECK (available >= 0),
    version       integer NOT NULL,
    event_id      text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, warehouse_id)
  )`,
};

/** Prices of `productIds`: product → currency → amount. */
export async function pricesOf(db: SqlExecutor, productIds: readonly string[]): Promise<Map<string, Map<string, string>>> {
  const { rows } = await db.query<{ product_id: string; currency: string; amount: string }>(
    'SELECT product_id, currency, amount::text FROM checkout.prices WHERE product_id = ANY($1)', [productIds],
  );
  const prices = new Map<string, Map<string, string>>();
  for (const row of rows) {
    const forProduct = prices.get(row.product_id) ?? new Map<string, string>();
    forProduct.set(row.currency.trim(), row.amount);
    prices.set(row.product_id, forProduct);
  }
  return prices;
}

/** Units of each of `productIds` available across warehouses (absent: no stock known). */
export async function availabilityOf(db: SqlExecutor, productIds: readonly string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ product_id: string; available: number }>(
    'SELECT product_id, sum(available)::int AS available FROM checkout.stock WHERE product_id = ANY($1) GROUP BY product_id', [productIds],
  );
  return new Map(rows.map((row) => [row.product_id, row.available]));
}

/** Checkout's handlers. */
export function checkoutHandlers(): AnySubscription[] {
  return [
    on(priceUpdated, async ({ event, tx }) => {
      const price = event.data;
      if (toMinorUnits(price.amount) > toMinorUnits(price.listAmount)) {
        throw new PermanentError(`price of product ${price.productId} in ${price.currency}: amount ${price.amount} is above the list price ${price.listAmount}`);
      }
      const { rowCount } = await tx.query(
        `INSERT INTO checkout.prices AS p (product_id, currency, amount, version, event_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (product_id, currency) DO UPDATE SET amount = EXCLUDED.amount, version = EXCLUDED.version, event_id = EXCLUDED.event_id, updated_at = now()
         WHERE p.version < EXCLUDED.version`,
        [price.productId, price.currency, price.amount, price.version, event.id],
      );
      return rowCount === 1 ? 'applied' : 'stale';
    }),
    on(stockChanged, async ({ event, tx }) => {
      const stock = event.data;
      if (stock.available > stock.onHand) {
        throw new PermanentError(`stock of product ${stock.productId} in warehouse ${stock.warehouseId}: ${stock.available} available but only ${stock.onHand} on hand`);
      }
      const { rowCount } = await tx.query(
        `INSERT INTO checkout.stock AS s (product_id, warehouse_id, available, version, event_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (product_id, warehouse_id) DO UPDATE SET available = EXCLUDED.available, version = EXCLUDED.version, event_id = EXCLUDED.event_id, updated_at = now()
         WHERE s.version < EXCLUDED.version`,
        [stock.productId, stock.warehouseId, stock.available, stock.version, event.id],
      );
      return rowCount === 1 ? 'applied' : 'stale';
    }),
  ];
}
