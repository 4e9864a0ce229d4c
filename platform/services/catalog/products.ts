import { randomUUID } from 'node:crypto';
import type { Migration } from 'datasync/postgres';
import type { ProducerTransaction } from 'datasync/runtime';
import { productCreated, productDeleted, productUpdated, type Product, type ProductDeleted } from '../../contracts/catalog.js';

/**
 * Catalog's own data: the products table, and the three changes it makes to it. Each change
 * writes the row and publishes the event in the caller's transaction (the transactional
 * outbox), so both commit or neither does.
 */

/** The products table, in Catalog's schema beside datasync's outbox. */
export const productsTable: Migration = {
  id: 'catalog_0001_products',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.products (
    id          text PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    category    text NOT NULL,
    status      text NOT NULL CHECK (status IN ('active', 'discontinued')),
    version     integer NOT NULL,
    updated_at  timestamptz NOT NULL
  )`,
};

/**
 * Adds the optional free-text description, published from v2 of the product topics (v1 had
 * no such field, and a published version never changes).
 */
export const productDescriptionColumn: Migration = {
  id: 'catalog_0002_product_description',
  sql: 'ALTER TABLE {schema}.products ADD COLUMN IF NOT EXISTS description text',
};

/**
 * What Catalog's cached product view (view.ts) needs besides the products: a counter per
 * product that every change of its view increments (its own writes and the copies kept from
 * Pricing, Warehouse and Review), so a cache fill built from an older read is refused; and a
 * tombstone per deleted product, so a late price or stock for it is dropped instead of held.
 */
export const productViewTables: Migration = {
  id: 'catalog_0003_product_views',
  sql: `ALTER TABLE {schema}.products ADD COLUMN IF NOT EXISTS view_version bigint NOT NULL DEFAULT 1;
  CREATE TABLE IF NOT EXISTS {schema}.deleted_products (
    id          text PRIMARY KEY,
    version     integer NOT NULL,
    deleted_at  timestamptz NOT NULL
  )`,
};

/**
 * Told, inside the writing transaction, that the product's view changed and now has
 * `viewVersion` (the route drops its cached view, view.ts).
 */
export type ViewChanged = (id: string, viewVersion: number) => Promise<void>;

/** The category of a product created without one (the HTTP API does not take a category yet). */
export const DEFAULT_CATEGORY = 'uncategorized';

/** What a new product needs; Catalog assigns the id and version. */
export interface NewProduct {
  readonly sku: string;
  readonly name: string;
  /** Default {@link DEFAULT_CATEGORY}. */
  readonly category?: string;
  readonly description?: string;
}

/** The fields a change may set. */
export type ProductChanges = Partial<Pick<Product, 'sku' | 'name' | 'category' | 'status'>> & { readonly description?: string };

/** A product as Catalog holds it (`description` null when it has none; the event leaves it out then). */
export interface CatalogProduct extends Omit<Product, 'description'> {
  readonly description: string | null;
}

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  category: string;
  status: Product['status'];
  description: string | null;
  version: number;
  updated_at: Date;
}

const COLUMNS = 'id, sku, name, category, status, description, version, updated_at';

function toProduct(row: ProductRow): CatalogProduct {
  return { id: row.id, sku: row.sku, name: row.name, category: row.category, status: row.status, description: row.description, version: row.version, updatedAt: row.updated_at.toISOString() };
}

/** The event's data: the product, with its description only when it has one. */
function published(product: CatalogProduct): Product {
  const { description, ...rest } = product;
  return description ? { ...rest, description } : rest;
}

/** Inserts a product at version 1 and publishes `catalog.product.created`. */
export async function createProduct(tx: ProducerTransaction, input: NewProduct): Promise<CatalogProduct> {
  const { rows: [row] } = await tx.query<ProductRow>(
    `INSERT INTO catalog.products (id, sku, name, category, status, description, version, updated_at)
     VALUES ($1, $2, $3, $4, 'active', $5, 1, now()) RETURNING ${COLUMNS}`,
    [randomUUID(), input.sku, input.name, input.category ?? DEFAULT_CATEGORY, input.description ?? null],
  );
  const product = toProduct(row!);
  await tx.publish(productCreated, published(product));
  return product;
}

/**
 * Applies `changes`, increments the version and publishes `catalog.product.updated`;
 * `undefined` if there is no such product. `viewChanged` hears the product view's new version.
 */
export async function updateProduct(tx: ProducerTransaction, id: string, changes: ProductChanges, viewChanged?: ViewChanged): Promise<CatalogProduct | undefined> {
  const { rows: [row] } = await tx.query<ProductRow & { view_version: string }>(
    `UPDATE catalog.products
     SET name = coalesce($2, name), category = coalesce($3, category), status = coalesce($4, status),
         sku = coalesce($5, sku), description = coalesce($6, description),
         version = version + 1, view_version = view_version + 1, updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}, view_version`,
    [id, changes.name ?? null, changes.category ?? null, changes.status ?? null, changes.sku ?? null, changes.description ?? null],
  );
  if (!row) return undefined;
  const product = toProduct(row);
  await tx.publish(productUpdated, published(product));
  await viewChanged?.(id, Number(row.view_version));
  return product;
}

/**
 * Deletes the product with its copies of prices, stock and ratings, keeps a tombstone (so
 * late events about it are dropped, not held) and publishes `catalog.product.deleted` with the
 * next version; `undefined` if there is no such product. `viewChanged` hears the view's last
 * version (above any a reader could have cached).
 */
export async function deleteProduct(tx: ProducerTransaction, id: string, viewChanged?: ViewChanged): Promise<ProductDeleted | undefined> {
  const { rows: [row] } = await tx.query<{ version: number; view_version: string; deleted_at: Date }>(
    'DELETE FROM catalog.products WHERE id = $1 RETURNING version, view_version, now() AS deleted_at',
    [id],
  );
  if (!row) return undefined;
  const deleted: ProductDeleted = { id, version: row.version + 1, deletedAt: row.deleted_at.toISOString() };
  await tx.query(
    `INSERT INTO catalog.deleted_products (id, version, deleted_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
    [id, deleted.version, row.deleted_at],
  );
  for (const table of ['product_prices', 'product_stock', 'product_ratings']) {
    await tx.query(`DELETE FROM catalog.${table} WHERE product_id = $1`, [id]);
  }
  await tx.publish(productDeleted, deleted);
  await viewChanged?.(id, Number(row.view_version) + 1);
  return deleted;
}
