import type { Migration, SqlExecutor } from 'datasync/postgres';
import type { PriceUpdated } from '../../contracts/pricing.js';

/**
 * Pricing's own data: the prices table, and the two changes it makes to it: a new list price
 * (the HTTP API, {@link setPrice}) and a new selling price after a promotion or stock change
 * ({@link repriceProduct}, from the consumers in copies.ts). Each change writes the row and
 * publishes `pricing.price.updated` in the caller's transaction (the transactional outbox).
 *
 * Selling price: the list price less the best active promotion naming the product in
 * promotions.ts's sense ({@link bestPromotion}); a product Warehouse reports 0 units available
 * for is sold at its list price (a discount on what cannot be bought only misleads).
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

/** The selling price beside the list price (`amount`), and the promotion behind it. */
export const sellingPriceColumns: Migration = {
  id: 'pricing_0002_selling_price',
  sql: `ALTER TABLE {schema}.prices ADD COLUMN IF NOT EXISTS sale_amount numeric, ADD COLUMN IF NOT EXISTS promotion_id uuid;
  UPDATE {schema}.prices SET sale_amount = amount WHERE sale_amount IS NULL;
  ALTER TABLE {schema}.prices ALTER COLUMN sale_amount SET NOT NULL;
  ALTER TABLE {schema}.prices ADD CONSTRAINT prices_sale_amount_check CHECK (sale_amount >= 0 AND sale_amount <= amount)`,
};

/** A price as the API returns it. */
export interface Price {
  readonly productId: string;
  readonly currency: string;
  /** What the customer pays now: a decimal string, as PostgreSQL's `numeric` keeps it (e.g. `19.99`). */
  readonly amount: string;
  /** The list price set through the API. */
  readonly listAmount: string;
  /** The promotion behind a reduced `amount`. */
  readonly promotionId?: string;
  /** Pricing's version of this product's prices (all currencies). */
  readonly version: number;
}

/** What a price change sets. Callers validate: `amount` a non-negative decimal string, `currency` ISO 4217. */
export interface PriceChange {
  readonly amount: string;
  readonly currency: string;
}

/** Writes one `pricing.price.updated` event in the caller's transaction. */
export type PublishPrice = (price: PriceUpdated) => Promise<unknown>;

/** Serialises the changes of one product, so its version increases by one across currencies. */
export async function lockProductPrices(tx: SqlExecutor, productId: string): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('pricing.prices:' || $1, 0))", [productId]);
}

/**
 * The best active promotion for `productId` in `currency` at `listAmount` (promotions.ts's
 * copy): the lowest resulting amount, ties to the lowest promotion id; `undefined` when none
 * lowers the price or the product is out of stock.
 */
export async function bestPromotion(db: SqlExecutor, productId: string, currency: string, listAmount: string): Promise<{ amount: string; promotionId: string } | undefined> {
  const { rows: [best] } = await db.query<{ id: string; amount: string }>(
    `SELECT id, amount::text AS amount FROM (
       SELECT pm.id, CASE WHEN pm.discount_type = 'percentage' THEN least($3::numeric, round($3::numeric * (100 - pm.value) / 100, 2))
                          ELSE greatest(0, $3::numeric - pm.value) END AS amount
       FROM pricing.promotions pm
       WHERE NOT pm.deleted AND pm.status = 'active' AND pm.starts_at <= now() AND (pm.ends_at IS NULL OR pm.ends_at > now())
         AND $1::uuid = ANY (pm.product_ids) AND (pm.discount_type = 'percentage' OR pm.currency = $2)
         AND NOT EXISTS (SELECT 1 FROM pricing.stock s WHERE s.product_id = $1::uuid GROUP BY s.product_id HAVING sum(s.available) = 0)
     ) candidates
     WHERE amount < $3::numeric
     ORDER BY amount, id LIMIT 1`,
    [productId, currency, listAmount],
  );
  return best ? { amount: best.amount, promotionId: best.id } : undefined;
}

interface PriceRow { amount: string; sale_amount: string; promotion_id: string | null; version: number; updated_at: Date }

function toPrice(productId: string, currency: string, row: PriceRow): Price {
  return {
    productId, currency, amount: row.sale_amount, listAmount: row.amount,
    ...(row.promotion_id ? { promotionId: row.promotion_id } : {}), version: row.version,
  };
}

function event(price: Price, at: Date): PriceUpdated {
  const time = at.toISOString();
  return {
    productId: price.productId, currency: price.currency, listAmount: price.listAmount, amount: price.amount,
    ...(price.promotionId ? { promotionId: price.promotionId } : {}), version: price.version, effectiveFrom: time, updatedAt: time,
  };
}

/**
 * Sets the product's list price in `change.currency`, applies the best promotion, gives the
 * product's prices the next version and publishes `pricing.price.updated`. The product id is
 * not checked against Catalog (Pricing keeps no copy of products; Catalog holds a price for a
 * product it does not have, then dead-letters it).
 */
export async function setPrice(tx: SqlExecutor, publish: PublishPrice, productId: string, change: PriceChange): Promise<Price> {
  await lockProductPrices(tx, productId);
  const best = await bestPromotion(tx, productId, change.currency, change.amount);
  const { rows: [row] } = await tx.query<PriceRow>(
    `INSERT INTO pricing.prices AS p (product_id, currency, amount, sale_amount, promotion_id, version, updated_at)
     VALUES ($1, $2, $3::numeric, coalesce($4::numeric, $3::numeric), $5, coalesce((SELECT max(version) FROM pricing.prices WHERE product_id = $1), 0) + 1, now())
     ON CONFLICT (product_id, currency) DO UPDATE SET amount = excluded.amount, sale_amount = excluded.sale_amount,
       promotion_id = excluded.promotion_id, version = excluded.version, updated_at = excluded.updated_at
     RETURNING amount::text AS amount, sale_amount::text AS sale_amount, promotion_id, version, updated_at`,
    [productId, change.currency, change.amount, best?.amount ?? null, best?.promotionId ?? null],
  );
  const price = toPrice(productId, change.currency, row!);
  await publish(event(price, row!.updated_at));
  return price;
}

/**
 * Recomputes the selling price of each of the product's currencies (a promotion or the stock
 * changed); each one that changes gets the next version and is published. Returns those.
 */
export async function repriceProduct(tx: SqlExecutor, publish: PublishPrice, productId: string): Promise<Price[]> {
  await lockProductPrices(tx, productId);
  const { rows } = await tx.query<PriceRow & { currency: string }>(
    `SELECT currency, amount::text AS amount, sale_amount::text AS sale_amount, promotion_id, version, updated_at
     FROM pricing.prices WHERE product_id = $1 ORDER BY currency`,
    [productId],
  );
  const changed: Price[] = [];
  for (const current of rows) {
    const best = await bestPromotion(tx, productId, current.currency, current.amount);
    const amount = best?.amount ?? current.amount;
    const promotionId = best?.promotionId ?? null;
    if (amount === current.sale_amount && promotionId === current.promotion_id) continue;
    const { rows: [row] } = await tx.query<PriceRow>(
      `UPDATE pricing.prices SET sale_amount = $3::numeric, promotion_id = $4,
         version = (SELECT max(version) FROM pricing.prices WHERE product_id = $1) + 1, updated_at = now()
       WHERE product_id = $1 AND currency = $2
       RETURNING amount::text AS amount, sale_amount::text AS sale_amount, promotion_id, version, updated_at`,
      [productId, current.currency, amount, promotionId],
    );
    const price = toPrice(productId, current.currency, row!);
    await publish(event(price, row!.updated_at));
    changed.push(price);
  }
  return changed;
}
