import type { Migration } from 'datasync/postgres';
import type { ProducerTransaction } from 'datasync/runtime';
import { stockChanged, type StockChangeReason } from '../../contracts/warehouse.js';

/**
 * Warehouse's own data: the stock table, and the one change it makes to it. A change writes
 * the row and publishes `warehouse.stock.changed` in the caller's transaction (the
 * transactional outbox), so both commit or neither does.
 *
 * For now the platform has one warehouse ({@link DEFAULT_WAREHOUSE_ID}) and keeps no
 * reservations: the published event carries `onHand` = `available` and `reserved` = 0.
 */

/** The stock table, in Warehouse's schema beside datasync's outbox: units per product. */
export const stockTable: Migration = {
  id: 'warehouse_0001_stock',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.stock (
    product_id  uuid PRIMARY KEY,
    available   integer NOT NULL CHECK (available >= 0),
    version     integer NOT NULL CHECK (version >= 0),  -- 0 only inside the transaction that creates the row
    updated_at  timestamptz NOT NULL
  )`,
};

/** The one warehouse (a `location` of type warehouse) the events name until locations join the platform. */
export const DEFAULT_WAREHOUSE_ID = '00000000-0000-4000-8000-000000000001';

/**
 * The reasons an adjustment may give: the contract's reasons that change units on hand
 * (`reserved` and `released` change reservations, which are not kept yet).
 */
export const ADJUST_REASONS = ['received', 'shipped', 'returned', 'adjusted'] as const satisfies readonly StockChangeReason[];
export type AdjustReason = (typeof ADJUST_REASONS)[number];

/** A product's stock as the API returns it. */
export interface Stock {
  readonly productId: string;
  readonly available: number;
  /** Warehouse's version of this product's stock, incremented by every change. */
  readonly version: number;
}

/** An adjustment; callers validate (`delta` a non-zero integer). */
export interface StockAdjustment {
  readonly delta: number;
  readonly reason: AdjustReason;
}

/** The adjustment would leave fewer than 0 units; nothing was changed. */
export class InsufficientStockError extends Error {
  constructor(readonly productId: string, readonly available: number, readonly delta: number) {
    super(`product ${productId} has ${available} units available; a change of ${delta} would leave ${available + delta}`);
    this.name = 'InsufficientStockError';
  }
}

/**
 * Adds `delta` units to the product's stock (a product without stock has 0), increments its
 * version and publishes `warehouse.stock.changed`. Throws {@link InsufficientStockError}
 * (before writing anything) when the result would be negative; the caller's transaction
 * then rolls back.
 */
export async function adjustStock(tx: ProducerTransaction, productId: string, adjustment: StockAdjustment): Promise<Stock> {
  // The row exists (a new one at 0 units, version 0, rolled back with the transaction if the
  // change is refused) and is locked, so concurrent adjustments of one product queue up.
  await tx.query(
    'INSERT INTO warehouse.stock (product_id, available, version, updated_at) VALUES ($1, 0, 0, now()) ON CONFLICT (product_id) DO NOTHING',
    [productId],
  );
  const { rows: [current] } = await tx.query<{ available: number }>(
    'SELECT available FROM warehouse.stock WHERE product_id = $1 FOR UPDATE',
    [productId],
  );
  if (current!.available + adjustment.delta < 0) throw new InsufficientStockError(productId, current!.available, adjustment.delta);
  const { rows: [row] } = await tx.query<{ available: number; version: number; updated_at: Date }>(
    `UPDATE warehouse.stock SET available = available + $2, version = version + 1, updated_at = now()
     WHERE product_id = $1 RETURNING available, version, updated_at`,
    [productId, adjustment.delta],
  );
  await tx.publish(stockChanged, {
    productId, warehouseId: DEFAULT_WAREHOUSE_ID, onHand: row!.available, reserved: 0, available: row!.available,
    reason: adjustment.reason, version: row!.version, changedAt: row!.updated_at.toISOString(),
  });
  return { productId, available: row!.available, version: row!.version };
}
