import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import type { ServiceDirectory } from '../../host/module.js';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { amountField, checkFields, currencyField, enumField, textField, uuidField } from '../../http/fields.js';
import { promotionUpdated, type Promotion } from '../../contracts/promotion.js';
import { productStates } from './products.js';
import { createPromotion, deletePromotion, findPromotion, updatePromotion, type PromotionFields } from './promotions.js';

/**
 * Promotion's HTTP routes. Each write is one producer transaction (the row and its event
 * commit together).
 *
 *   POST   /promotions      {"name", "discountType": "percentage"|"fixed-amount", "value": "15", "currency"? (fixed-amount only),
 *                            "productIds"?: [uuid], "categories"?: [text], "status"? (default draft), "code"?, "startsAt"? (default now), "endsAt"?}
 *                           → 201 the promotion
 *   PUT    /promotions/:id  any of those fields → 200 the promotion (404 unknown id)
 *   DELETE /promotions/:id  → 204 (404 unknown id)
 *   GET    /promotions/:id  → 200 the promotion (404 unknown id)
 *
 * Rules (400 naming the field): a percentage is above 0 and at most 100 and has no currency; a
 * fixed amount is above 0 and needs a currency; productIds or categories names something;
 * endsAt is after startsAt. A product in productIds must be one Promotion's copy of the
 * catalog has (else Catalog's API is asked, for a product created a moment ago): 409
 * UNKNOWN_PRODUCT or PRODUCT_DELETED naming `productIds`. A taken code is 409 CODE_TAKEN.
 */

const FIELDS = ['name', 'code', 'status', 'discountType', 'value', 'currency', 'productIds', 'categories', 'startsAt', 'endsAt'] as const;
const STATUSES = ['draft', 'active', 'paused', 'ended'] as const;
const DISCOUNT_TYPES = ['percentage', 'fixed-amount'] as const;
const CODE_PATTERN = /^[A-Z0-9-]{3,32}$/;
const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const MAX_PRODUCTS = 1_000;
const MAX_CATEGORIES = 100;

function codeField(value: unknown): string {
  if (typeof value !== 'string' || !CODE_PATTERN.test(value)) throw invalidField('code', `expected 3 to 32 upper-case letters, digits and '-' such as "SUMMER-10", got ${JSON.stringify(value)}`);
  return value;
}

function timestampField(field: string, value: unknown): string {
  if (typeof value !== 'string' || !TIMESTAMP_PATTERN.test(value) || Number.isNaN(Date.parse(value))) {
    throw invalidField(field, `expected an RFC 3339 timestamp such as "2026-12-01T00:00:00Z", got ${JSON.stringify(value)}`);
  }
  return new Date(value).toISOString();
}

function listField<T>(field: string, value: unknown, max: number, item: (value: unknown) => T): T[] {
  if (!Array.isArray(value)) throw invalidField(field, `expected an array, got ${JSON.stringify(value)}`);
  if (value.length > max) throw invalidField(field, `expected at most ${max} entries, got ${value.length}`);
  const items = value.map(item);
  const seen = new Set<T>();
  for (const entry of items) {
    if (seen.has(entry)) throw invalidField(field, `${JSON.stringify(entry)} appears twice`);
    seen.add(entry);
  }
  return items;
}

/** The fields present in `body`, each checked on its own; throws a 400 naming the first bad one. */
function parseFields(body: Record<string, unknown>): Partial<PromotionFields> {
  const has = (field: string): boolean => body[field] !== undefined;
  return {
    ...(has('name') ? { name: textField('name', body.name, 200) } : {}),
    ...(has('code') ? { code: codeField(body.code) } : {}),
    ...(has('status') ? { status: enumField('status', body.status, STATUSES) } : {}),
    ...(has('discountType') ? { discountType: enumField('discountType', body.discountType, DISCOUNT_TYPES) } : {}),
    ...(has('value') ? { value: amountField('value', body.value) } : {}),
    ...(has('currency') ? { currency: currencyField('currency', body.currency) } : {}),
    ...(has('productIds') ? { productIds: listField('productIds', body.productIds, MAX_PRODUCTS, (id) => uuidField('productIds', id)) } : {}),
    ...(has('categories') ? { categories: listField('categories', body.categories, MAX_CATEGORIES, (name) => textField('categories', name, 64)) } : {}),
    ...(has('startsAt') ? { startsAt: timestampField('startsAt', body.startsAt) } : {}),
    ...(has('endsAt') ? { endsAt: timestampField('endsAt', body.endsAt) } : {}),
  };
}

/** Checks the rules across fields of a whole promotion; throws a 400 naming the field to change. */
function checkRules(fields: PromotionFields): PromotionFields {
  const value = Number(fields.value);
  if (value <= 0) throw invalidField('value', `must be above 0, got ${JSON.stringify(fields.value)}`);
  if (fields.discountType === 'percentage') {
    if (value > 100) throw invalidField('value', `a percentage is at most 100, got ${JSON.stringify(fields.value)}`);
    if (fields.currency !== undefined) throw invalidField('currency', 'only a fixed-amount discount has a currency');
  } else if (fields.currency === undefined) {
    throw invalidField('currency', 'is required for a fixed-amount discount', 'MISSING_FIELD');
  }
  if (fields.productIds.length === 0 && fields.categories.length === 0) {
    throw invalidField('productIds', 'a promotion applies to at least one product (productIds) or category (categories)', 'MISSING_FIELD');
  }
  if (fields.endsAt !== undefined && Date.parse(fields.endsAt) <= Date.parse(fields.startsAt)) {
    throw invalidField('endsAt', `must be after startsAt (${fields.startsAt}), got ${fields.endsAt}`);
  }
  return fields;
}

/** The body of `POST /promotions`: a whole promotion with defaults. */
export function parseNewPromotion(body: Record<string, unknown>): PromotionFields {
  checkFields(body, FIELDS, ['name', 'discountType', 'value']);
  const fields = parseFields(body);
  return checkRules({
    name: fields.name!, status: fields.status ?? 'draft', discountType: fields.discountType!, value: fields.value!,
    productIds: fields.productIds ?? [], categories: fields.categories ?? [], startsAt: fields.startsAt ?? new Date().toISOString(),
    ...(fields.code === undefined ? {} : { code: fields.code }),
    ...(fields.currency === undefined ? {} : { currency: fields.currency }),
    ...(fields.endsAt === undefined ? {} : { endsAt: fields.endsAt }),
  });
}

/**
 * The body of `PUT /promotions/:id` merged into `current`: any of the fields, at least one. A
 * change to `percentage` drops the current currency unless the body sets one.
 */
export function parsePromotionChanges(body: Record<string, unknown>, current: Promotion): PromotionFields {
  checkFields(body, FIELDS, []);
  if (FIELDS.every((field) => body[field] === undefined)) throw new ApiError(400, 'NOTHING_TO_CHANGE', `body: expected at least one of ${FIELDS.join(', ')}`, 'body');
  const { id: _id, version: _version, updatedAt: _updatedAt, ...state } = current;
  const fields = parseFields(body);
  const merged: PromotionFields = { ...state, ...fields };
  if (fields.discountType === 'percentage' && fields.currency === undefined) {
    const { currency: _dropped, ...rest } = merged;
    return checkRules(rest);
  }
  return checkRules(merged);
}

/** What Promotion's routes use. */
export interface PromotionRoutesDeps {
  readonly producer: Producer;
  readonly db: SqlExecutor;
  readonly services: ServiceDirectory;
}

/** Refuses product ids Promotion may not name: 409 naming `productIds`. */
async function checkProducts(deps: PromotionRoutesDeps, productIds: readonly string[]): Promise<void> {
  if (productIds.length === 0) return;
  const states = await productStates(deps.db, productIds);
  for (const productId of productIds) {
    const state = states.get(productId);
    if (state === 'known') continue;
    if (state === 'deleted') throw new ApiError(409, 'PRODUCT_DELETED', `productIds: product ${productId} was deleted from the catalog`, 'productIds');
    let status: number;
    try {
      status = (await deps.services.fetch('catalog', `/catalog/products/${productId}`)).status;
    } catch (error) {
      throw new ApiError(503, 'CATALOG_UNAVAILABLE', `productIds: Promotion has no copy of product ${productId} yet and could not ask Catalog (${(error as Error).message}); retry`, 'productIds');
    }
    if (status === 404) throw new ApiError(409, 'UNKNOWN_PRODUCT', `productIds: Catalog has no product ${productId}`, 'productIds');
    if (status !== 200) throw new ApiError(503, 'CATALOG_UNAVAILABLE', `productIds: Promotion has no copy of product ${productId} yet and Catalog answered ${status}; retry`, 'productIds');
  }
}

/** A 409 for a code another promotion has, else the error itself. */
function codeConflict(error: unknown, code: string | undefined): unknown {
  const pgError = error as { code?: string; constraint?: string };
  if (pgError.code === '23505' && pgError.constraint === 'promotions_code_key') {
    return new ApiError(409, 'CODE_TAKEN', `code: another promotion has the code ${JSON.stringify(code)}`, 'code');
  }
  return error;
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'PROMOTION_NOT_FOUND', `no promotion with id ${JSON.stringify(id)}`);
}

/** A path id that is not a UUID names no promotion. */
function pathId(id: string): string | undefined {
  try {
    return uuidField('id', id);
  } catch {
    return undefined;
  }
}

/** Promotion's routes, to mount at `/promotions`. */
export function promotionRoutes(deps: PromotionRoutesDeps): Hono {
  const routes = new Hono();

  routes.post('/', async (c) => {
    const fields = parseNewPromotion(await readJsonObject(c));
    await checkProducts(deps, fields.productIds);
    const promotion = await deps.producer.transaction((tx) => createPromotion(tx, fields)).catch((error: unknown) => { throw codeConflict(error, fields.code); });
    return c.json(promotion, 201);
  });

  routes.get('/:id', async (c) => {
    const id = pathId(c.req.param('id'));
    const promotion = id === undefined ? undefined : await findPromotion(deps.db, id);
    if (!promotion) throw notFound(c.req.param('id'));
    return c.json(promotion, 200);
  });

  routes.put('/:id', async (c) => {
    const id = pathId(c.req.param('id'));
    const body = await readJsonObject(c);
    const current = id === undefined ? undefined : await findPromotion(deps.db, id);
    if (!current) throw notFound(c.req.param('id'));
    const fields = parsePromotionChanges(body, current);
    await checkProducts(deps, fields.productIds.filter((productId) => !current.productIds.includes(productId)));
    const promotion = await deps.producer.transaction(async (tx) => {
      // merged into the state read above: refuse if it changed meanwhile rather than overwrite it
      const locked = await findPromotion(tx, current.id, true);
      if (!locked) return undefined;
      if (locked.version !== current.version) throw new ApiError(409, 'CHANGED_MEANWHILE', `promotion ${current.id} changed while this request ran (version ${locked.version}); retry`);
      return updatePromotion(tx, (data) => tx.publish(promotionUpdated, data), current.id, fields);
    }).catch((error: unknown) => { throw codeConflict(error, fields.code); });
    if (!promotion) throw notFound(current.id);
    return c.json(promotion, 200);
  });

  routes.delete('/:id', async (c) => {
    const id = pathId(c.req.param('id'));
    const deleted = id === undefined ? undefined : await deps.producer.transaction((tx) => deletePromotion(tx, id));
    if (!deleted) throw notFound(c.req.param('id'));
    return c.body(null, 204);
  });

  return routes;
}
