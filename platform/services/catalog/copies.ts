import type { Cache } from 'datasync/cache';
import { PermanentError, RetryLaterError } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type HandlerResult } from 'datasync/runtime';
import { priceUpdated } from '../../contracts/pricing.js';
import { reviewModerated } from '../../contracts/review.js';
import { stockChanged } from '../../contracts/warehouse.js';
import type { ProductView } from './view.js';

/**
 * Catalog's copies of what other services own about its products, shown with the product
 * (GET /catalog/products/:id): Pricing's prices, Warehouse's stock and Review's moderated
 * reviews. Conflict rule: version-based for all three (each owner versions its data), so a
 * redelivered or late older event changes nothing. A row carries the id of the event that
 * wrote it.
 *
 * Referential rule: an event about a product Catalog does not have is held (RetryLaterError,
 * retried while the runtime allows, then dead-lettered naming the product); one about a
 * product Catalog deleted is dropped as stale (its tombstone says so).
 */

/** The three copies, keyed by the owner's identity of the row. */
export const copyTables: Migration = {
  id: 'catalog_0004_copies',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.product_prices (
    product_id    text NOT NULL,
    currency      char(3) NOT NULL,
    list_amount   numeric NOT NULL CHECK (list_amount >= 0),
    amount        numeric NOT NULL CHECK (amount >= 0 AND amount <= list_amount),
    promotion_id  text,
    version       integer NOT NULL,
    event_id      text NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (product_id, currency)
  );
  CREATE TABLE IF NOT EXISTS {schema}.product_stock (
    product_id    text NOT NULL,
    warehouse_id  text NOT NULL,
    on_hand       integer NOT NULL CHECK (on_hand >= 0),
    reserved      integer NOT NULL CHECK (reserved >= 0),
    available     integer NOT NULL CHECK (available >= 0),
    version       integer NOT NULL,
    event_id      text NOT NULL,
    changed_at    timestamptz NOT NULL,
    PRIMARY KEY (product_id, warehouse_id)
  );
  CREATE TABLE IF NOT EXISTS {schema}.product_ratings (
    review_id   text PRIMARY KEY,
    product_id  text NOT NULL,
    rating      integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    status      text NOT NULL,
    version     integer NOT NULL,
    event_id    text NOT NULL,
    updated_at  timestamptz NOT NULL
  );
  CREATE INDEX IF NOT EXISTS product_ratings_product ON {schema}.product_ratings (product_id)`,
};

/** How long a held event waits before its next attempt. */
export const HOLD_DELAY_MS = 1_000;

/**
 * Locks the product's row for the handler's transaction. `known` if Catalog has it, `deleted`
 * if it had it; throws RetryLaterError naming the product otherwise.
 */
async function lockProduct(tx: SqlExecutor, productId: string, what: string, attempt: number): Promise<'known' | 'deleted'> {
  const { rows: [row] } = await tx.query<{ known: boolean; deleted: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM catalog.products WHERE id = $1 FOR UPDATE) AS known,
            EXISTS (SELECT 1 FROM catalog.deleted_products WHERE id = $1) AS deleted`,
    [productId],
  );
  if (row!.known) return 'known';
  if (row!.deleted) return 'deleted';
  throw new RetryLaterError(
    `${what} for unknown product ${productId}: held ${attempt} attempt${attempt === 1 ? '' : 's'}, Catalog has no such product`,
    { delayMs: HOLD_DELAY_MS },
  );
}

/** Increments the product's view version and drops its cached view (below that version nothing is cached again). */
async function viewChanged(tx: SqlExecutor, cache: Cache<ProductView>, productId: string): Promise<void> {
  const { rows: [row] } = await tx.query<{ view_version: string }>(
    'UPDATE catalog.products SET view_version = view_version + 1 WHERE id = $1 RETURNING view_version',
    [productId],
  );
  await cache.invalidate(productId, Number(row!.view_version));
}

/** Compares two non-negative decimal strings (the contracts' `amount`). */
export function compareAmounts(a: string, b: string): number {
  const [ai = '', af = ''] = a.split('.');
  const [bi = '', bf = ''] = b.split('.');
  const whole = (s: string): string => s.replace(/^0+(?=\d)/, '');
  const [aw, bw] = [whole(ai), whole(bi)];
  if (aw.length !== bw.length) return aw.length < bw.length ? -1 : 1;
  const [x, y] = [aw + af.padEnd(4, '0'), bw + bf.padEnd(4, '0')];
  return x === y ? 0 : x < y ? -1 : 1;
}

/** The handlers keeping the copies; each drops the product's cached view when it applies. */
export function copyHandlers(cache: Cache<ProductView>): AnySubscription[] {
  return [
    on(priceUpdated, async ({ event, tx, attempt }): Promise<HandlerResult> => {
      const price = event.data;
      if (compareAmounts(price.amount, price.listAmount) > 0) {
        throw new PermanentError(`price of product ${price.productId} in ${price.currency}: amount ${price.amount} is above the list price ${price.listAmount}`);
      }
      if (await lockProduct(tx, price.productId, 'price', attempt) === 'deleted') return 'stale';
      const { rowCount } = await tx.query(
        `INSERT INTO catalog.product_prices AS p (product_id, currency, list_amount, amount, promotion_id, version, event_id, updated_at)
         VALUES ($1, $2, $3::numeric, $4::numeric, $5, $6, $7, $8)
         ON CONFLICT (product_id, currency) DO UPDATE SET list_amount = excluded.list_amount, amount = excluded.amount,
           promotion_id = excluded.promotion_id, version = excluded.version, event_id = excluded.event_id, updated_at = excluded.updated_at
         WHERE p.version < excluded.version`,
        [price.productId, price.currency, price.listAmount, price.amount, price.promotionId ?? null, price.version, event.id, price.updatedAt],
      );
      if (rowCount === 0) return 'stale';
      await viewChanged(tx, cache, price.productId);
      return 'applied';
    }),

    on(stockChanged, async ({ event, tx, attempt }): Promise<HandlerResult> => {
      const stock = event.data;
      if (stock.available !== Math.max(0, stock.onHand - stock.reserved)) {
        throw new PermanentError(`stock of product ${stock.productId} in warehouse ${stock.warehouseId}: available ${stock.available} is not on hand ${stock.onHand} less reserved ${stock.reserved}`);
      }
      if (await lockProduct(tx, stock.productId, 'stock', attempt) === 'deleted') return 'stale';
      const { rowCount } = await tx.query(
        `INSERT INTO catalog.product_stock AS s (product_id, warehouse_id, on_hand, reserved, available, version, event_id, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (product_id, warehouse_id) DO UPDATE SET on_hand = excluded.on_hand, reserved = excluded.reserved,
           available = excluded.available, version = excluded.version, event_id = excluded.event_id, changed_at = excluded.changed_at
         WHERE s.version < excluded.version`,
        [stock.productId, stock.warehouseId, stock.onHand, stock.reserved, stock.available, stock.version, event.id, stock.changedAt],
      );
      if (rowCount === 0) return 'stale';
      await viewChanged(tx, cache, stock.productId);
      return 'applied';
    }),

    on(reviewModerated, async ({ event, tx, attempt }): Promise<HandlerResult> => {
      const review = event.data;
      if (await lockProduct(tx, review.productId, 'review', attempt) === 'deleted') return 'stale';
      const { rowCount } = await tx.query(
        `INSERT INTO catalog.product_ratings AS r (review_id, product_id, rating, status, version, event_id, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (review_id) DO UPDATE SET product_id = excluded.product_id, rating = excluded.rating, status = excluded.status,
           version = excluded.version, event_id = excluded.event_id, updated_at = excluded.updated_at
         WHERE r.version < excluded.version`,
        [review.id, review.productId, review.rating, review.status, review.version, event.id, review.updatedAt],
      );
      if (rowCount === 0) return 'stale';
      await viewChanged(tx, cache, review.productId);
      return 'applied';
    }),
  ];
}
