import { Hono } from 'hono';
import type { Producer } from 'datasync/runtime';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { createProduct, deleteProduct, updateProduct, type NewProduct, type ProductChanges } from './products.js';

/**
 * Catalog's HTTP routes: create, change and delete products. Each request is one producer
 * transaction (the row and its event commit together) through `createProduct`,
 * `updateProduct` and `deleteProduct`.
 *
 *   POST   /catalog/products        {"sku", "name", "description"?}  → 201 the product
 *   PUT    /catalog/products/:id    any of those fields              → 200 the product (404 unknown id)
 *   DELETE /catalog/products/:id                                     → 204 (404 unknown id)
 */

const FIELDS = ['sku', 'name', 'description'] as const;
const SKU_PATTERN = /^[A-Z0-9][A-Z0-9-]*$/;
// The published catalog.product.* v1 schema takes 3 to 32 characters (^[A-Z0-9-]{3,32}$);
// the API's own limit (64) would let through SKUs whose event could not be published.
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

function checkName(value: unknown): string {
  if (typeof value !== 'string') throw invalidField('name', 'expected a string');
  if (value.trim() === '') throw invalidField('name', 'must not be empty');
  if (value.length > NAME_MAX) throw invalidField('name', `expected at most ${NAME_MAX} characters, got ${value.length}`);
  return value;
}

function checkDescription(value: unknown): string {
  if (typeof value !== 'string') throw invalidField('description', 'expected a string');
  if (value.length > DESCRIPTION_MAX) throw invalidField('description', `expected at most ${DESCRIPTION_MAX} characters, got ${value.length}`);
  return value;
}

function rejectUnknownFields(body: Record<string, unknown>): void {
  const unknown = Object.keys(body).find((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined) throw invalidField(unknown, `unknown field (expected ${FIELDS.join(', ')})`, 'UNKNOWN_FIELD');
}

/** The body of `POST /catalog/products`; throws a 400 {@link ApiError} naming the first bad field. */
export function parseNewProduct(body: Record<string, unknown>): NewProduct {
  rejectUnknownFields(body);
  if (body.sku === undefined) throw invalidField('sku', 'is required', 'MISSING_FIELD');
  if (body.name === undefined) throw invalidField('name', 'is required', 'MISSING_FIELD');
  return {
    sku: checkSku(body.sku),
    name: checkName(body.name),
    ...(body.description === undefined ? {} : { description: checkDescription(body.description) }),
  };
}

/** The body of `PUT /catalog/products/:id`: any of the fields, at least one. */
export function parseProductChanges(body: Record<string, unknown>): ProductChanges {
  rejectUnknownFields(body);
  if (FIELDS.every((field) => body[field] === undefined)) throw new ApiError(400, 'NOTHING_TO_CHANGE', `body: expected at least one of ${FIELDS.join(', ')}`, 'body');
  return {
    ...(body.sku === undefined ? {} : { sku: checkSku(body.sku) }),
    ...(body.name === undefined ? {} : { name: checkName(body.name) }),
    ...(body.description === undefined ? {} : { description: checkDescription(body.description) }),
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

/** Catalog's routes, to mount at `/catalog`. `producer` is the running Catalog's. */
export function catalogRoutes(deps: { readonly producer: Producer }): Hono {
  const routes = new Hono();

  routes.post('/products', async (c) => {
    const input = parseNewProduct(await readJsonObject(c));
    const product = await deps.producer.transaction((tx) => createProduct(tx, input)).catch((error: unknown) => { throw skuConflict(error, input.sku); });
    return c.json(product, 201);
  });

  routes.put('/products/:id', async (c) => {
    const id = c.req.param('id');
    const changes = parseProductChanges(await readJsonObject(c));
    const product = await deps.producer.transaction((tx) => updateProduct(tx, id, changes)).catch((error: unknown) => { throw skuConflict(error, changes.sku); });
    if (!product) throw notFound(id);
    return c.json(product, 200);
  });

  routes.delete('/products/:id', async (c) => {
    const id = c.req.param('id');
    const deleted = await deps.producer.transaction((tx) => deleteProduct(tx, id));
    if (!deleted) throw notFound(id);
    return c.body(null, 204);
  });

  return routes;
}
