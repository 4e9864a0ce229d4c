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

/** What a new product needs; Catalog assigns the id and version. */
export interface NewProduct {
  readonly sku: string;
  readonly name: string;
  readonly category: string;
}

/** The fields a change may set. */
export type ProductChanges = Partial<Pick<Product, 'name' | 'category' | 'status'>>;

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  category: string;
  status: Product['status'];
  version: number;
  updated_at: Date;
}

const COLUMNS = 'id, sku, name, category, status, version, updated_at';

function toProduct(row: ProductRow): Product {
  return { id: row.id, sku: row.sku, name: row.name, category: row.category, status: row.status, version: row.version, updatedAt: row.updated_at.toISOString() };
}

/** Inserts a product at version 1 and publishes `catalog.product.created`. */
export async function createProduct(tx: ProducerTransaction, input: NewProduct): Promise<Product> {
  const { rows: [row] } = await tx.query<ProductRow>(
    `INSERT INTO catalog.products (id, sku, name, category, status, version, updated_at)
     VALUES ($1, $2, $3, $4, 'active', 1, now()) RETURNING ${COLUMNS}`,
    [randomUUID(), input.sku, input.name, input.category],
  );
  const product = toProduct(row!);
  await tx.publish(productCreated, product);
  return product;
}

/** Applies `changes`, increments the version and publishes `catalog.product.updated`; `undefined` if there is no such product. */
export async function updateProduct(tx: ProducerTransaction, id: string, changes: ProductChanges): Promise<Product | undefined> {
  const { rows: [row] } = await tx.query<ProductRow>(
    `UPDATE catalog.products
     SET name = coalesce($2, name), category = coalesce($3, category), status = coalesce($4, status),
         version = version + 1, updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, changes.name ?? null, changes.category ?? null, changes.status ?? null],
  );
  if (!row) return undefined;
  const product = toProduct(row);
  await tx.publish(productUpdated, product);
  return product;
}

/** Deletes the product and publishes `catalog.product.deleted` with the next version; `undefined` if there is no such product. */
export async function deleteProduct(tx: ProducerTransaction, id: string): Promise<ProductDeleted | undefined> {
  const { rows: [row] } = await tx.query<{ version: number; deleted_at: Date }>(
    'DELETE FROM catalog.products WHERE id = $1 RETURNING version, now() AS deleted_at',
    [id],
  );
  if (!row) return undefined;
  const deleted: ProductDeleted = { id, version: row.version + 1, deletedAt: row.deleted_at.toISOString() };
  await tx.publish(productDeleted, deleted);
  return deleted;
}
