import { defineTopic, type JsonSchema } from 'datasync/core';

/**
 * Catalog owns products (the seed's "Data Ownership"). Every change it commits is published
 * on one of these topics, ordered per product (partition key = product id) and versioned,
 * so a copy can drop anything older than what it holds.
 */

/** A product as Catalog publishes it. Prices belong to Pricing and stock to Warehouse, not here. */
export interface Product {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly category: string;
  readonly status: 'active' | 'discontinued';
  /** Free text shown on the product page and searched by Search (v2 of the product topics; absent when empty). */
  readonly description?: string;
  /** Incremented by every change; read models apply only newer versions. */
  readonly version: number;
  /** When Catalog committed this version (RFC 3339). */
  readonly updatedAt: string;
}

/** A product removed from the catalog: the tombstone's version is one above the last state. */
export interface ProductDeleted {
  readonly id: string;
  readonly version: number;
  readonly deletedAt: string;
}

const id = { type: 'string', minLength: 1, maxLength: 64 } as const;
const version = { type: 'integer', minimum: 1 } as const;

/** JSON Schema of {@link Product}. */
export const ProductSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'sku', 'name', 'category', 'status', 'version', 'updatedAt'],
  properties: {
    id,
    sku: { type: 'string', pattern: '^[A-Z0-9-]{3,32}$' },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    category: { type: 'string', minLength: 1, maxLength: 64 },
    status: { enum: ['active', 'discontinued'] },
    description: { type: 'string', minLength: 1, maxLength: 5000 },
    version,
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

/** JSON Schema of {@link ProductDeleted}. */
export const ProductDeletedSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'version', 'deletedAt'],
  properties: { id, version, deletedAt: { type: 'string', format: 'date-time' } },
};

/**
 * Who keeps what of a product (the seed's section 7): Search indexes it, Warehouse knows which
 * products it may stock, Analytics reports on them.
 */
const audience = { owner: 'catalog', subscribers: ['search', 'warehouse', 'analytics', 'order', 'promotion', 'review'] } as const;

/** A product was added to the catalog. */
export const productCreated = defineTopic<Product>({
  name: 'catalog.product.created',
  // v2 added the optional description (v1 stays in schemas.lock.json; docs/decisions.md 19)
  version: 2,
  ...audience,
  schema: ProductSchema,
  partitionKey: (product) => product.id,
  entityVersion: (product) => product.version,
  description: 'A product was added to the catalog.',
});

/** A product's name, category or status changed. */
export const productUpdated = defineTopic<Product>({
  name: 'catalog.product.updated',
  version: 2,
  ...audience,
  schema: ProductSchema,
  partitionKey: (product) => product.id,
  entityVersion: (product) => product.version,
  description: "A product's name, category or status changed; the event carries the whole new state.",
});

/** A product was removed from the catalog. */
export const productDeleted = defineTopic<ProductDeleted>({
  name: 'catalog.product.deleted',
  version: 1,
  ...audience,
  schema: ProductDeletedSchema,
  partitionKey: (deleted) => deleted.id,
  entityVersion: (deleted) => deleted.version,
  description: 'A product was removed from the catalog; copies keep a tombstone with its version.',
});

/** Every topic Catalog publishes. */
export const catalogTopics = [productCreated, productUpdated, productDeleted] as const;
