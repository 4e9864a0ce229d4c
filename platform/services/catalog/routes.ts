import { Hono } from 'hono';
import type { Cache } from 'datasync/cache';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, textField } from '../../http/fields.js';
import { createProduct, deleteProduct, updateProduct, type NewProduct, type ProductChanges, type ViewChanged } from './products.js';
import { cachedProductView, type ProductView } from './view.js';

/**
 * Catalog's HTTP routes: create, change, delete and show products. Each write is one producer
 * transaction (the row and its event commit together) through `createProduct`,
 * `updateProduct` and `deleteProduct`, and drops the product's cached view.
 *
 *   POST   /catalog/products        {"sku", "name", "description"?}  → 201 the product
 *   PUT    /catalog/products/:id    any of those fields              → 200 the product (404 unknown id)
 *   DELETE /catalog/products/:id                                     → 204 (404 unknown id)
 *   GET    /catalog/products/:id    → 200 the product with `price`, `prices`, `stock`, `rating` (view.ts),
 *                                     header `x-cache: hit|miss` (404 unknown id)
 */

const FIELDS = ['sku', 'name', 'description'] as const;
const SKU_PATTERN = /^[A-Z0-9][A-Z0-9-]*$/;
// The published catalog.product.* schema takes 3 to 32 characters (^[A-Z0-9-]{3,32}$).
const SKU_MIN = 3;
const SKU_MAX = 32;
const NAME_MAX = 200;
const DESCRIPTION_MAX = 5_000;

function checkSku(value: unknown): string {
  if (typeof value !== 'string') throw invalidField('sku', 'expected a string');
  if (value.length < SKU_MIN || value.length > SKU_MAX) throw invalidField('sku', `expected ${SKU_MIN} to ${SKU_MAX} characters, got ${value.length}`);
  if (!SKU_PATTERN.test(value)) throw invalidField('sku', `expected upper-case letters, digits and '-', starting with a letter or digit (e.g. KET-1), got ${JSON.stringify(value)}`);
  return value;
}

/** The body of `POST /catalog/products`; throws a 400 {@link ApiError} naming the first bad field. */
export function parseNewProduct(body: Record<string, unknown>): NewProduct {
  checkFields(body, FIELDS, ['sku', 'name']);
  return {
    sku: checkSku(body.sku),
    name: textField('name', body.name, NAME_MAX),
    ...(body.description === undefined ? {} : { description: textField('description', body.description, DESCRIPTION_MAX) }),
  };
}

/** The body of `PUT /catalog/products/:id`: any of the fields, at least one. */
export function parseProductChanges(body: Record<string, unknown>): ProductChanges {
  checkFields(body, FIELDS, []);
  if (FIELDS.every((field) => body[field] === undefined)) throw new ApiError(400, 'NOTHING_TO_CHANGE', `body: expected at least one of ${FIELDS.join(', ')}`, 'body');
  return {
    ...(body.sku === undefined ? {} : { sku: checkSku(body.sku) }),
    ...(body.name === undefined ? {} : { name: textField('name', body.name, NAME_MAX) }),
    ...(body.description === undefined ? {} : { description: textField('description', body.description, DESCRIPTION_MAX) }),
  };
}

/** A 409 for an SKU another product has, else the error itself. */
function skuConflict(error: unknown, sku: string | undefined): unknown {
  const pgError = error as { code?: string; constraint?: string };
  if (pgError.code === '23505' && pgError.constraint === 'products_sku_key') {
    return new ApiError(409, 'SKU_TAKEN', `sku: another product has the SKU ${JSON.stringify(sku)}`, 'sku');
  }
  return error;
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'PRODUCT_NOT_FOUND', `no product with id ${JSON.stringify(id)}`);
}

/** What Catalog's routes use. */
export interface CatalogRoutesDeps {
  readonly producer: Producer;
  readonly db: SqlExecutor;
  /** The `catalog:product` cache of product views. */
  readonly cache: Cache<ProductView>;
  /** A cache that failed on a read or fill (the request is served from the database). */
  readonly onError: (error: unknown) => void;
}

/** Catalog's routes, to mount at `/catalog`. */
export function catalogRoutes(deps: CatalogRoutesDeps): Hono {
  const routes = new Hono();
  const viewChanged: ViewChanged = (id, viewVersion) => deps.cache.invalidate(id, viewVersion);

  routes.post('/products', async (c) => {
    const input = parseNewProduct(await readJsonObject(c));
    const product = await deps.producer.transaction((tx) => createProduct(tx, input)).catch((error: unknown) => { throw skuConflict(error, input.sku); });
    return c.json(product, 201);
  });

  routes.get('/products/:id', async (c) => {
    const id = c.req.param('id');
    const found = await cachedProductView(deps.db, deps.cache, id, deps.onError);
    if (!found) throw notFound(id);
    c.header('x-cache', found.cache);
    return c.json(found.view, 200);
  });

  routes.put('/products/:id', async (c) => {
    const id = c.req.param('id');
    const changes = parseProductChanges(await readJsonObject(c));
    const product = await deps.producer.transaction((tx) => updateProduct(tx, id, changes, viewChanged))
      .catch((error: unknown) => { throw skuConflict(error, changes.sku); });
    if (!product) throw notFound(id);
    return c.json(product, 200);
  });

  routes.delete('/products/:id', async (c) => {
    const id = c.req.param('id');
    const deleted = await deps.producer.transaction((tx) => deleteProduct(tx, id, viewChanged));
    if (!deleted) throw notFound(id);
    return c.body(null, 204);
  });

  return routes;
}
