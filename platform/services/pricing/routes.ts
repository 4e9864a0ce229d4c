import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { ApiError, readJsonObject } from '../../http/errors.js';
import { amountField, checkFields, currencyField, uuidField } from '../../http/fields.js';
import { priceUpdated } from '../../contracts/pricing.js';
import { setPrice, type PriceChange } from './prices.js';
import type { PriceViews } from './view.js';

/**
 * Pricing's HTTP routes. Each write is one producer transaction (the row and its
 * `pricing.price.updated` event commit together) through `setPrice`, and drops the product's
 * cached prices.
 *
 *   PUT /pricing/prices/:productId  {"amount": "19.99", "currency": "EUR"}
 *       → 200 {productId, currency, amount (selling price), listAmount, promotionId?, version}
 *   GET /pricing/prices/:productId  → 200 {productId, version, prices: [...], stock: {available} | null},
 *       header `x-cache: hit|miss` (404 PRICE_NOT_FOUND when the product has no price)
 */

const FIELDS = ['amount', 'currency'] as const;

/** The body of `PUT /pricing/prices/:productId`; throws a 400 ApiError naming the first bad field. */
export function parsePriceChange(body: Record<string, unknown>): PriceChange {
  checkFields(body, FIELDS);
  return { amount: amountField('amount', body.amount), currency: currencyField('currency', body.currency) };
}

/** What Pricing's routes use. */
export interface PricingRoutesDeps {
  readonly producer: Producer;
  readonly db: SqlExecutor;
  readonly views: PriceViews;
}

/** Pricing's routes, to mount at `/pricing`. */
export function pricingRoutes(deps: PricingRoutesDeps): Hono {
  const routes = new Hono();

  routes.put('/prices/:productId', async (c) => {
    const productId = uuidField('productId', c.req.param('productId'));
    const change = parsePriceChange(await readJsonObject(c));
    const price = await deps.producer.transaction(async (tx) => {
      const written = await setPrice(tx, (data) => tx.publish(priceUpdated, data), productId, change);
      await deps.views.changed(tx, productId);
      return written;
    });
    return c.json(price, 200);
  });

  routes.get('/prices/:productId', async (c) => {
    const productId = uuidField('productId', c.req.param('productId'));
    const found = await deps.views.get(deps.db, productId);
    if (!found) throw new ApiError(404, 'PRICE_NOT_FOUND', `productId: no price for product ${productId}`, 'productId');
    c.header('x-cache', found.cache);
    return c.json(found.view, 200);
  });

  return routes;
}
