import { Hono } from 'hono';
import type { Producer } from 'datasync/runtime';
import { invalidField, readJsonObject } from '../../http/errors.js';
import { setPrice, type PriceChange } from './prices.js';

/**
 * Pricing's HTTP routes. Each write is one producer transaction (the row and its
 * `pricing.price.updated` event commit together) through `setPrice`.
 *
 *   PUT /pricing/prices/:productId  {"amount": "19.99", "currency": "EUR"}  → 200 {productId, amount, currency, version}
 */

const FIELDS = ['amount', 'currency'] as const;
/** The published `amount` schema (fields.ts): a decimal string, never negative, at most 4 decimals. */
const AMOUNT_PATTERN = /^\d+(\.\d{1,4})?$/;
/** Digits before the decimal point the API takes (PostgreSQL's numeric would take more; no price needs them). */
const AMOUNT_MAX_INTEGER_DIGITS = 12;
const CURRENCY_PATTERN = /^[A-Z]{3}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkAmount(value: unknown): string {
  if (typeof value !== 'string') throw invalidField('amount', `expected a decimal string such as "19.99", got ${JSON.stringify(value)}`);
  if (value.startsWith('-')) throw invalidField('amount', `must not be negative, got ${JSON.stringify(value)}`);
  if (!AMOUNT_PATTERN.test(value)) throw invalidField('amount', `expected a decimal string with at most 4 decimals such as "19.99", got ${JSON.stringify(value)}`);
  if (value.split('.')[0]!.length > AMOUNT_MAX_INTEGER_DIGITS) throw invalidField('amount', `expected at most ${AMOUNT_MAX_INTEGER_DIGITS} digits before the decimal point`);
  return value;
}

function checkCurrency(value: unknown): string {
  if (typeof value !== 'string' || !CURRENCY_PATTERN.test(value)) throw invalidField('currency', `expected an ISO 4217 code of three upper-case letters such as "EUR", got ${JSON.stringify(value)}`);
  return value;
}

/** The path's product id; 400 naming `productId` unless it is a UUID (the published events carry UUIDs). */
function checkProductId(value: string): string {
  if (!UUID_PATTERN.test(value)) throw invalidField('productId', `expected a product id (a UUID), got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** The body of `PUT /pricing/prices/:productId`; throws a 400 ApiError naming the first bad field. */
export function parsePriceChange(body: Record<string, unknown>): PriceChange {
  const unknown = Object.keys(body).find((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined) throw invalidField(unknown, `unknown field (expected ${FIELDS.join(', ')})`, 'UNKNOWN_FIELD');
  for (const field of FIELDS) if (body[field] === undefined) throw invalidField(field, 'is required', 'MISSING_FIELD');
  return { amount: checkAmount(body.amount), currency: checkCurrency(body.currency) };
}

/** Pricing's routes, to mount at `/pricing`. `producer` is the running Pricing's. */
export function pricingRoutes(deps: { readonly producer: Producer }): Hono {
  const routes = new Hono();
  routes.put('/prices/:productId', async (c) => {
    const productId = checkProductId(c.req.param('productId'));
    const change = parsePriceChange(await readJsonObject(c));
    const price = await deps.producer.transaction((tx) => setPrice(tx, productId, change));
    return c.json(price, 200);
  });
  return routes;
}
