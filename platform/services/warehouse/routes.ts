import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import type { ServiceDirectory } from '../../host/module.js';
import { ApiError, readJsonObject } from '../../http/errors.js';
import { checkFields, enumField, integerField, uuidField } from '../../http/fields.js';
import { stockChanged } from '../../contracts/warehouse.js';
import { productStates } from './products.js';
import { ADJUST_REASONS, adjustStock, InsufficientStockError, type StockAdjustment } from './stock.js';
import type { StockViews } from './view.js';

/**
 * Warehouse's HTTP routes. Each adjustment is one producer transaction (the row, its movement
 * and its `warehouse.stock.changed` event commit together) through `adjustStock`.
 *
 *   POST /warehouse/stock/:productId/adjust  {"delta": -2, "reason": "sale"}  (reason: received, shipped, returned, adjusted, sale)
 *        → 200 {productId, onHand, reserved, available, version}
 *        409 INSUFFICIENT_STOCK naming `delta` when fewer units are available than the delta takes away
 *        409 UNKNOWN_PRODUCT naming `productId` for a product neither Warehouse's copy nor Catalog has
 *        409 PRODUCT_DELETED naming `delta` for units received for a deleted product (taking units away is allowed)
 *   GET  /warehouse/stock/:productId → 200 {productId, warehouseId, product: {sku, name, status} | null, onHand, reserved,
 *        available, version}, header `x-cache: hit|miss` (404 UNKNOWN_PRODUCT when Warehouse knows nothing of it)
 *
 * Which products may be stocked: those in Warehouse's copy of Catalog's products. A product
 * created a moment ago may not be in the copy yet; then Warehouse asks Catalog's API
 * (`GET /catalog/products/:id`), so a client can stock a product right after creating it.
 */

const FIELDS = ['delta', 'reason'] as const;
/** Largest change one adjustment may make (keeps stock well inside PostgreSQL's integer). */
const DELTA_MAX = 1_000_000;

/** The body of `POST /warehouse/stock/:productId/adjust`; throws a 400 ApiError naming the first bad field. */
export function parseStockAdjustment(body: Record<string, unknown>): StockAdjustment {
  checkFields(body, FIELDS);
  const delta = integerField('delta', body.delta, -DELTA_MAX, DELTA_MAX);
  if (delta === 0) throw new ApiError(400, 'INVALID_FIELD', 'delta: must not be 0', 'delta');
  const reason = enumField('reason', body.reason, ADJUST_REASONS);
  if (reason === 'sale' && delta > 0) throw new ApiError(400, 'INVALID_FIELD', `delta: a sale takes units away (a negative delta), got ${delta}`, 'delta');
  return { delta, reason };
}

/** What Warehouse's routes use. */
export interface WarehouseRoutesDeps {
  readonly producer: Producer;
  readonly db: SqlExecutor;
  readonly views: StockViews;
  readonly services: ServiceDirectory;
}

/** Refuses an adjustment of a product Warehouse may not stock. */
async function checkStockable(deps: WarehouseRoutesDeps, productId: string, delta: number): Promise<void> {
  const state = (await productStates(deps.db, [productId])).get(productId);
  if (state === 'deleted') {
    if (delta > 0) throw new ApiError(409, 'PRODUCT_DELETED', `delta: product ${productId} was deleted from the catalog; units can be taken away, not added`, 'delta');
    return;
  }
  if (state !== 'unknown') return;
  let status: number;
  try {
    status = (await deps.services.fetch('catalog', `/catalog/products/${productId}`)).status;
  } catch (error) {
    throw new ApiError(503, 'CATALOG_UNAVAILABLE', `productId: Warehouse has no copy of product ${productId} yet and could not ask Catalog (${(error as Error).message}); retry`, 'productId');
  }
  if (status === 404) throw new ApiError(409, 'UNKNOWN_PRODUCT', `productId: Catalog has no product ${productId}; create it with POST /catalog/products first`, 'productId');
  if (status !== 200) throw new ApiError(503, 'CATALOG_UNAVAILABLE', `productId: Warehouse has no copy of product ${productId} yet and Catalog answered ${status}; retry`, 'productId');
}

/** Warehouse's routes, to mount at `/warehouse`. */
export function warehouseRoutes(deps: WarehouseRoutesDeps): Hono {
  const routes = new Hono();

  routes.post('/stock/:productId/adjust', async (c) => {
    const productId = uuidField('productId', c.req.param('productId'));
    const adjustment = parseStockAdjustment(await readJsonObject(c));
    await checkStockable(deps, productId, adjustment.delta);
    const stock = await deps.producer.transaction((tx) => adjustStock(tx, {
      publish: (data) => tx.publish(stockChanged, data),
      viewChanged: deps.views.changed,
    }, productId, adjustment)).catch((error: unknown) => {
      if (error instanceof InsufficientStockError) {
        throw new ApiError(409, 'INSUFFICIENT_STOCK', `delta: ${error.available} units available, so ${error.delta} would leave ${error.available + error.delta}`, 'delta');
      }
      throw error;
    });
    return c.json(stock, 200);
  });

  routes.get('/stock/:productId', async (c) => {
    const productId = uuidField('productId', c.req.param('productId'));
    const found = await deps.views.get(deps.db, productId);
    if (!found) throw new ApiError(404, 'UNKNOWN_PRODUCT', `productId: Warehouse knows no product ${productId}`, 'productId');
    c.header('x-cache', found.cache);
    return c.json(found.view, 200);
  });

  return routes;
}
