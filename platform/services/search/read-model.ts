import type { CloudEvent } from 'datasync';
import { RetryLaterError } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { applyIfNewer, readModelMigration } from 'datasync/runtime';
import type { Product, ProductDeleted } from '../../contracts/catalog.js';
import type { PagePublished, PageUnpublished } from '../../contracts/cms.js';
import type { PriceUpdated } from '../../contracts/pricing.js';
import type { ProductInvalidated } from '../../contracts/search.js';
import type { StockChanged } from '../../contracts/warehouse.js';

/**
 * Search's read model: copies of products (Catalog), their prices (Pricing) and stock
 * (Warehouse), and published content pages (CMS), each applied only when newer than the copy
 * (the owner's version), so duplicates, replays and late arrivals change nothing.
 *
 * Every applied change to a product, its price or its stock raises the product's view version
 * (`search.products.view_version`): a hybrid logical clock, greatest(previous + 1, now in ms),
 * so it increases with every change whatever its cause and keeps increasing across a rebuild
 * of the read model (a rebuilt Search never hands out a view version below one it gave before,
 * which a Gateway's cache floor would refuse). Concurrent changes of one product queue on its
 * row lock, so each gets its own view version.
 */

/** Products: the read model's layout (id, version, event_time, event_id, deleted, data). */
export const productsTable: Migration = readModelMigration('search_0001_products', 'products');

/** The view version of each product, and the prices and stock of products. */
export const productViewTables: Migration = {
  id: 'search_0003_product_views',
  sql: `ALTER TABLE {schema}.products ADD COLUMN IF NOT EXISTS view_version bigint NOT NULL DEFAULT 0;
    CREATE TABLE IF NOT EXISTS {schema}.prices (
      product_id   text NOT NULL,
      currency     char(3) NOT NULL,
      amount       numeric NOT NULL CHECK (amount >= 0),
      list_amount  numeric NOT NULL CHECK (list_amount >= 0),
      version      bigint NOT NULL,   -- Pricing's version of the product's prices (all currencies)
      event_id     text NOT NULL,
      updated_at   timestamptz NOT NULL,
      PRIMARY KEY (product_id, currency)
    );
    CREATE TABLE IF NOT EXISTS {schema}.stock (
      product_id    text NOT NULL,
      warehouse_id  text NOT NULL,
      available     integer NOT NULL CHECK (available >= 0),
      version       bigint NOT NULL,  -- Warehouse's version of the product's stock (all warehouses)
      event_id      text NOT NULL,
      changed_at    timestamptz NOT NULL,
      PRIMARY KEY (product_id, warehouse_id)
    )`,
};

/** Content pages (the read model's layout) with a full-text index of slug, title, summary and tags. */
export const pagesTable: Migration = {
  id: 'search_0004_pages',
  sql: `${readModelMigration('search_0004_pages', 'pages').sql};
    ALTER TABLE {schema}.pages ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS (
      to_tsvector('simple', coalesce(data->>'slug', '') || ' ' || coalesce(data->>'title', '') || ' ' || coalesce(data->>'summary', '')
        || ' ' || coalesce(data->>'tags', ''))
    ) STORED;
    CREATE INDEX IF NOT EXISTS pages_search_vector ON {schema}.pages USING gin (search_vector)`,
};

/** The next view version in SQL: greatest(previous + 1, now in ms). */
const NEXT_VIEW_VERSION = "greatest(t.view_version + 1, (extract(epoch from clock_timestamp()) * 1000)::bigint)";

/** A change applied to a product's view: what the invalidation says. */
export type AppliedChange = Pick<ProductInvalidated, 'productId' | 'cause' | 'sourceVersion' | 'viewVersion'>;

/**
 * Writes a product (or, with `null`, its tombstone) unless the copy is as new, raising its view
 * version. Returns the applied change, or undefined when the event was older than the copy.
 */
export async function applyProduct(tx: SqlExecutor, event: CloudEvent<Product | ProductDeleted>, data: Product | null): Promise<AppliedChange | undefined> {
  const { id, version } = event.data;
  const { rows: [row] } = await tx.query<{ view_version: string }>(
    `INSERT INTO search.products AS t (id, version, event_time, event_id, deleted, data, view_version)
     VALUES ($1, $2, $3, $4, $5, $6, (extract(epoch from clock_timestamp()) * 1000)::bigint)
     ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, event_time = EXCLUDED.event_time, event_id = EXCLUDED.event_id,
       deleted = EXCLUDED.deleted, data = EXCLUDED.data, updated_at = now(), view_version = ${NEXT_VIEW_VERSION}
     WHERE t.version < EXCLUDED.version
     RETURNING view_version`,
    [id, version, event.time, event.id, data === null, data === null ? null : JSON.stringify(data)],
  );
  return row ? { productId: id, cause: 'product', sourceVersion: version, viewVersion: Number(row.view_version) } : undefined;
}

/** Raises the product's view version (it exists: the caller checked); returns the new one. */
async function nextViewVersion(tx: SqlExecutor, productId: string): Promise<number> {
  const { rows: [row] } = await tx.query<{ view_version: string }>(
    `UPDATE search.products AS t SET view_version = ${NEXT_VIEW_VERSION} WHERE id = $1 RETURNING view_version`,
    [productId],
  );
  return Number(row!.view_version);
}

/** How long a price or stock change of a product Search does not have yet waits before it is tried again. */
export const HELD_FOR_PRODUCT_MS = 1_000;

/**
 * Search indexes prices and stock of the products it has (a tombstone counts: the product
 * existed). Otherwise the event is held and retried (catalog.product.created may still be on
 * its way on another topic), then dead-lettered with this reason.
 */
async function requireProduct(tx: SqlExecutor, productId: string, what: string): Promise<void> {
  const { rows } = await tx.query('SELECT 1 FROM search.products WHERE id = $1', [productId]);
  if (rows.length === 0) {
    throw new RetryLaterError(
      `Search has no product ${productId}: ${what} is held until catalog.product.created for it arrives (retried, then dead-lettered; replay it once the product exists)`,
      { delayMs: HELD_FOR_PRODUCT_MS },
    );
  }
}

/** Keeps the product's price in the event's currency unless the copy has Pricing's version already. */
export async function applyPrice(tx: SqlExecutor, event: CloudEvent<PriceUpdated>): Promise<AppliedChange | undefined> {
  const price = event.data;
  await requireProduct(tx, price.productId, `its ${price.currency} price (pricing.price.updated version ${price.version})`);
  const { rowCount } = await tx.query(
    `INSERT INTO search.prices AS p (product_id, currency, amount, list_amount, version, event_id, updated_at)
     VALUES ($1, $2, $3::numeric, $4::numeric, $5, $6, $7)
     ON CONFLICT (product_id, currency) DO UPDATE SET amount = EXCLUDED.amount, list_amount = EXCLUDED.list_amount,
       version = EXCLUDED.version, event_id = EXCLUDED.event_id, updated_at = EXCLUDED.updated_at
     WHERE p.version < EXCLUDED.version`,
    [price.productId, price.currency, price.amount, price.listAmount, price.version, event.id, price.updatedAt],
  );
  if (rowCount !== 1) return undefined;
  return { productId: price.productId, cause: 'price', sourceVersion: price.version, viewVersion: await nextViewVersion(tx, price.productId) };
}

/** Keeps the product's available units in the event's warehouse unless the copy has Warehouse's version already. */
export async function applyStock(tx: SqlExecutor, event: CloudEvent<StockChanged>): Promise<AppliedChange | undefined> {
  const stock = event.data;
  await requireProduct(tx, stock.productId, `its stock in warehouse ${stock.warehouseId} (warehouse.stock.changed version ${stock.version})`);
  const { rowCount } = await tx.query(
    `INSERT INTO search.stock AS s (product_id, warehouse_id, available, version, event_id, changed_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (product_id, warehouse_id) DO UPDATE SET available = EXCLUDED.available, version = EXCLUDED.version,
       event_id = EXCLUDED.event_id, changed_at = EXCLUDED.changed_at
     WHERE s.version < EXCLUDED.version`,
    [stock.productId, stock.warehouseId, stock.available, stock.version, event.id, stock.changedAt],
  );
  if (rowCount !== 1) return undefined;
  return { productId: stock.productId, cause: 'stock', sourceVersion: stock.version, viewVersion: await nextViewVersion(tx, stock.productId) };
}

/** Indexes a published page (or, with `null`, marks it unpublished) unless the copy has the CMS's version already. */
export function applyPage(tx: SqlExecutor, event: CloudEvent<PagePublished | PageUnpublished>, data: PagePublished | null): Promise<'applied' | 'stale'> {
  return applyIfNewer(tx, {
    schema: 'search', table: 'pages', id: event.data.id, version: event.data.version, eventTime: event.time, eventId: event.id, data,
  });
}
