import { PermanentError } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type HandlerResult, type Producer } from 'datasync/runtime';
import { priceUpdated } from '../../contracts/pricing.js';
import { promotionCreated, promotionDeleted, promotionUpdated, type Promotion } from '../../contracts/promotion.js';
import { stockChanged } from '../../contracts/warehouse.js';
import { repriceProduct, type PublishPrice } from './prices.js';
import type { PriceViews } from './view.js';

/**
 * Pricing's copies of what feeds a selling price: Promotion's promotions and Warehouse's
 * stock. Conflict rule: version-based for both (each owner versions its data; a deleted
 * promotion is a tombstone keeping its version). A row carries the id of the event that wrote
 * it. Applying a change re-prices the products it affects and publishes their new prices in
 * the same consumer transaction, through Pricing's outbox (`producer.publishWithin`).
 *
 * A promotion applies to the products it names (`productIds`); Pricing has no copy of
 * products, so promotions by category do not change prices here.
 */

/** The copies, and the view counter of view.ts. */
export const copyTables: Migration = {
  id: 'pricing_0003_copies',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.promotions (
    id             uuid PRIMARY KEY,
    status         text,
    discount_type  text,
    value          numeric,
    currency       char(3),
    product_ids    uuid[] NOT NULL DEFAULT '{}',
    starts_at      timestamptz,
    ends_at        timestamptz,
    deleted        boolean NOT NULL DEFAULT false,
    version        integer NOT NULL,
    event_id       text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS promotions_products ON {schema}.promotions USING gin (product_ids);
  CREATE TABLE IF NOT EXISTS {schema}.stock (
    product_id    uuid NOT NULL,
    warehouse_id  uuid NOT NULL,
    available     integer NOT NULL CHECK (available >= 0),
    version       integer NOT NULL,
    event_id      text NOT NULL,
    changed_at    timestamptz NOT NULL,
    PRIMARY KEY (product_id, warehouse_id)
  );
  CREATE TABLE IF NOT EXISTS {schema}.price_views (
    product_id  uuid PRIMARY KEY,
    version     bigint NOT NULL
  )`,
};

/** Checks a promotion's business rules; throws PermanentError naming the rule broken. */
function checkPromotion(promotion: Promotion): void {
  if (promotion.discountType === 'percentage' && Number(promotion.value) > 100) {
    throw new PermanentError(`promotion ${promotion.id}: a percentage discount of ${promotion.value} is above 100`);
  }
  if (promotion.endsAt !== undefined && Date.parse(promotion.endsAt) <= Date.parse(promotion.startsAt)) {
    throw new PermanentError(`promotion ${promotion.id}: endsAt ${promotion.endsAt} is not after startsAt ${promotion.startsAt}`);
  }
}

/** Re-prices each product (in id order, so concurrent handlers lock products in one order) and drops the views of those whose price changed. */
async function reprice(tx: SqlExecutor, publish: PublishPrice, views: PriceViews, productIds: Iterable<string>): Promise<void> {
  for (const productId of [...new Set(productIds)].sort()) {
    const changed = await repriceProduct(tx, publish, productId);
    if (changed.length > 0) await views.changed(tx, productId);
  }
}

/** The handlers keeping the copies. */
export function copyHandlers(producer: Producer, views: PriceViews): AnySubscription[] {
  /** Publishes in the handler's transaction, caused by the consumed event. */
  const publisher = (db: SqlExecutor, causationId: string): PublishPrice => (price) => producer.publishWithin(db, priceUpdated, price, { causationId });

  async function keepPromotion(db: SqlExecutor, eventId: string, id: string, version: number, promotion: Promotion | null): Promise<HandlerResult> {
    const { rows: [before] } = await db.query<{ product_ids: string[] }>('SELECT product_ids FROM pricing.promotions WHERE id = $1 FOR UPDATE', [id]);
    const { rowCount } = await db.query(
      `INSERT INTO pricing.promotions AS p (id, status, discount_type, value, currency, product_ids, starts_at, ends_at, deleted, version, event_id, updated_at)
       VALUES ($1, $2, $3, $4::numeric, $5, $6::uuid[], $7, $8, $9, $10, $11, now())
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, discount_type = excluded.discount_type, value = excluded.value,
         currency = excluded.currency, product_ids = excluded.product_ids, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
         deleted = excluded.deleted, version = excluded.version, event_id = excluded.event_id, updated_at = now()
       WHERE p.version < excluded.version`,
      [id, promotion?.status ?? null, promotion?.discountType ?? null, promotion?.value ?? null, promotion?.currency ?? null,
        promotion?.productIds ?? [], promotion?.startsAt ?? null, promotion?.endsAt ?? null, promotion === null, version, eventId],
    );
    if (rowCount === 0) return 'stale';
    await reprice(db, publisher(db, eventId), views, [...(before?.product_ids ?? []), ...(promotion?.productIds ?? [])]);
    return 'applied';
  }

  return [
    on(promotionCreated, async ({ event, tx: db }) => {
      checkPromotion(event.data);
      return keepPromotion(db, event.id, event.data.id, event.data.version, event.data);
    }),
    on(promotionUpdated, async ({ event, tx: db }) => {
      checkPromotion(event.data);
      return keepPromotion(db, event.id, event.data.id, event.data.version, event.data);
    }),
    on(promotionDeleted, ({ event, tx: db }) => keepPromotion(db, event.id, event.data.id, event.data.version, null)),

    on(stockChanged, async ({ event, tx: db }): Promise<HandlerResult> => {
      const stock = event.data;
      if (stock.available !== Math.max(0, stock.onHand - stock.reserved)) {
        throw new PermanentError(`stock of product ${stock.productId} in warehouse ${stock.warehouseId}: available ${stock.available} is not on hand ${stock.onHand} less reserved ${stock.reserved}`);
      }
      const { rowCount } = await db.query(
        `INSERT INTO pricing.stock AS s (product_id, warehouse_id, available, version, event_id, changed_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (product_id, warehouse_id) DO UPDATE SET available = excluded.available, version = excluded.version,
           event_id = excluded.event_id, changed_at = excluded.changed_at
         WHERE s.version < excluded.version`,
        [stock.productId, stock.warehouseId, stock.available, stock.version, event.id, stock.changedAt],
      );
      if (rowCount === 0) return 'stale';
      await repriceProduct(db, publisher(db, event.id), stock.productId);
      await views.changed(db, stock.productId); // the view shows the stock
      return 'applied';
    }),
  ];
}
