import { Hono } from 'hono';
import type { Producer } from 'datasync/runtime';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { ADJUST_REASONS, adjustStock, InsufficientStockError, type AdjustReason, type StockAdjustment } from './stock.js';

/**
 * Warehouse's HTTP routes. Each adjustment is one producer transaction (the row and its
 * `warehouse.stock.changed` event commit together) through `adjustStock`.
 *
 *   POST /warehouse/stock/:productId/adjust  {"delta": -2, "reason": "shipped"}  → 200 {productId, available, version}
 *        409 INSUFFICIENT_STOCK naming `delta` when fewer units are available than the delta takes away
 */

const FIELDS = ['delta', 'reason'] as const;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Largest change one adjustment may make (keeps stock well inside PostgreSQL's integer). */
const DELTA_MAX = 1_000_000;

/** The path's product id; 400 naming `productId` unless it is a UUID (the published events carry UUIDs). */
function checkProductId(value: string): string {
  if (!UUID_PATTERN.test(value)) throw invalidField('productId', `expected a product id (a UUID), got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

function checkDelta(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidField('delta', `expected an integer, got ${JSON.stringify(value)}`);
  if (value === 0) throw invalidField('delta', 'must not be 0');
  if (Math.abs(value) > DELTA_MAX) throw invalidField('delta', `expected at most ${DELTA_MAX} units either way, got ${value}`);
  return value;
}

function checkReason(value: unknown): AdjustReason {
  if (typeof value !== 'string' || !(ADJUST_REASONS as readonly string[]).includes(value)) {
    throw invalidField('reason', `expected one of ${ADJUST_REASONS.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as AdjustReason;
}

/** The body of `POST /warehouse/stock/:productId/adjust`; throws a 400 ApiError naming the first bad field. */
export function parseStockAdjustment(body: Record<string, unknown>): StockAdjustment {
  const unknown = Object.keys(body).find((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined) throw invalidField(unknown, `unknown field (expected ${FIELDS.join(', ')})`, 'UNKNOWN_FIELD');
  for (const field of FIELDS) if (body[field] === undefined) throw invalidField(field, 'is required', 'MISSING_FIELD');
  return { delta: checkDelta(body.delta), reason: checkReason(body.reason) };
}

/** Warehouse's routes, to mount at `/warehouse`. `producer` is the running Warehouse's. */
export function warehouseRoutes(deps: { readonly producer: Producer }): Hono {
  const routes = new Hono();
  routes.post('/stock/:productId/adjust', async (c) => {
    const productId = checkProductId(c.req.param('productId'));
    const adjustment = parseStockAdjustment(await readJsonObject(c));
    const stock = await deps.producer.transaction((tx) => adjustStock(tx, productId, adjustment)).catch((error: unknown) => {
      if (error instanceof InsufficientStockError) {
        throw new ApiError(409, 'INSUFFICIENT_STOCK', `delta: ${error.available} units available, so ${error.delta} would leave ${error.available + error.delta}`, 'delta');
      }
      throw error;
    });
    return c.json(stock, 200);
  });
  return routes;
}
