import type { Migration, SqlExecutor } from 'datasync/postgres';
import type { StockChanged, StockChangeReason } from '../../contracts/warehouse.js';
import { DEFAULT_WAREHOUSE_ID } from '../../contracts/location.js';

/**
 * Warehouse's own data: units on hand and reserved per product, and every change to them.
 * A change ({@link changeStock}) locks the product's row, refuses to leave anything negative
 * (also enforced by CHECK constraints), writes a movement, and publishes
 * `warehouse.stock.changed` in the caller's transaction (the transactional outbox), so the
 * row, the movement and the event commit together or not at all.
 *
 * The platform has one warehouse ({@link DEFAULT_WAREHOUSE_ID}, a location Location seeds);
 * every event Warehouse publishes names it.
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

/**
 * Units on hand and reserved (available becomes on hand less reserved, kept by PostgreSQL),
 * the movements ledger (one row per change, with the event that caused it), and the view
 * counter of view.ts.
 */
export const reservedStock: Migration = {
  id: 'warehouse_0002_reserved_stock',
  sql: `ALTER TABLE {schema}.stock ADD COLUMN IF NOT EXISTS on_hand integer, ADD COLUMN IF NOT EXISTS reserved integer NOT NULL DEFAULT 0;
  UPDATE {schema}.stock SET on_hand = available WHERE on_hand IS NULL;
  ALTER TABLE {schema}.stock ALTER COLUMN on_hand SET NOT NULL, DROP COLUMN available,
    ADD CONSTRAINT stock_on_hand_check CHECK (on_hand >= 0),
    ADD CONSTRAINT stock_reserved_check CHECK (reserved >= 0 AND reserved <= on_hand);
  ALTER TABLE {schema}.stock ADD COLUMN available integer GENERATED ALWAYS AS (on_hand - reserved) STORED;
  CREATE TABLE IF NOT EXISTS {schema}.movements (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id      uuid NOT NULL,
    reason          text NOT NULL,
    on_hand_delta   integer NOT NULL,
    reserved_delta  integer NOT NULL,
    version         integer NOT NULL,   -- the stock version this change made
    source          text NOT NULL,      -- 'api', or the topic of the consumed event
    ref_id          uuid,               -- the order, fulfillment or return
    event_id        text,               -- the consumed event
    created_at      timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS movements_product ON {schema}.movements (product_id, id);
  CREATE INDEX IF NOT EXISTS movements_event ON {schema}.movements (event_id) WHERE event_id IS NOT NULL;
  CREATE TABLE IF NOT EXISTS {schema}.stock_views (
    product_id  uuid PRIMARY KEY,
    version     bigint NOT NULL
  )`,
};

/** The one warehouse the events name (Location seeds it). */
export { DEFAULT_WAREHOUSE_ID };

/**
 * The reasons an adjustment through the API may give: the contract's reasons that change
 * units on hand (`reserved` and `released` change reservations, which come from orders), and
 * `sale`: units sold outside the order flow (the example body), which takes units
 * away and is published as `adjusted`.
 */
export const ADJUST_REASONS = ['received', 'shipped', 'returned', 'adjusted', 'sale'] as const;
export type AdjustReason = (typeof ADJUST_REASONS)[number];

/** The published reason of an adjustment's reason. */
const PUBLISHED_REASON: Record<AdjustReason, StockChangeReason> = {
  received: 'received', shipped: 'shipped', returned: 'returned', adjusted: 'adjusted', sale: 'adjusted',
};

/** A product's stock as the API returns it. */
export interface Stock {
  readonly productId: string;
  readonly onHand: number;
  readonly reserved: number;
  /** On hand less reserved: what can be sold now. */
  readonly available: number;
  /** Warehouse's version of this product's stock, incremented by every change. */
  readonly version: number;
}

/** An adjustment; callers validate (`delta` a non-zero integer). */
export interface StockAdjustment {
  readonly delta: number;
  readonly reason: AdjustReason;
}

/** The change would leave fewer than 0 units available (or on hand, or reserved); nothing was changed. */
export class InsufficientStockError extends Error {
  constructor(readonly productId: string, readonly available: number, readonly delta: number) {
    super(`product ${productId} has ${available} units available; a change of ${delta} would leave ${available + delta}`);
    this.name = 'InsufficientStockError';
  }
}

/** Writes one `warehouse.stock.changed` event in the caller's transaction. */
export type PublishStock = (stock: StockChanged) => Promise<unknown>;

/** What a stock change needs besides the transaction: where its event goes and whom to tell that the product's view changed. */
export interface StockEffects {
  readonly publish: PublishStock;
  readonly viewChanged: (tx: SqlExecutor, productId: string) => Promise<void>;
}

/** Where a change came from, for the movement row. */
export interface StockSource {
  /** `api`, or the consumed topic. */
  readonly source: string;
  readonly refId?: string;
  readonly eventId?: string;
  /** The movement's reason when it says more than the published one (an adjustment's `sale`). */
  readonly reason?: string;
}

/** Locks the product's stock row (if it has one) and returns its units. */
export async function lockStock(tx: SqlExecutor, productId: string): Promise<{ onHand: number; reserved: number; available: number } | undefined> {
  const { rows: [row] } = await tx.query<{ on_hand: number; reserved: number; available: number }>(
    'SELECT on_hand, reserved, available FROM warehouse.stock WHERE product_id = $1 FOR UPDATE',
    [productId],
  );
  return row ? { onHand: row.on_hand, reserved: row.reserved, available: row.available } : undefined;
}

/**
 * Changes the product's units on hand and reserved by the deltas (a product without stock has
 * 0 of each), increments its version, records the movement and publishes the new figures.
 * Throws {@link InsufficientStockError} before writing anything when the result would leave
 * on hand, reserved or available below 0.
 */
export async function changeStock(
  tx: SqlExecutor, effects: StockEffects, productId: string,
  change: { readonly onHand: number; readonly reserved: number; readonly reason: StockChangeReason }, source: StockSource,
): Promise<Stock> {
  // The row exists (a new one at 0 units, version 0, rolled back with the transaction if the
  // change is refused) and is locked, so concurrent changes of one product queue up.
  await tx.query(
    'INSERT INTO warehouse.stock (product_id, on_hand, reserved, version, updated_at) VALUES ($1, 0, 0, 0, now()) ON CONFLICT (product_id) DO NOTHING',
    [productId],
  );
  const current = (await lockStock(tx, productId))!;
  const onHand = current.onHand + change.onHand;
  const reserved = current.reserved + change.reserved;
  if (onHand < 0 || reserved < 0 || reserved > onHand) {
    throw new InsufficientStockError(productId, current.available, (onHand - reserved) - current.available);
  }
  const { rows: [row] } = await tx.query<{ on_hand: number; reserved: number; available: number; version: number; updated_at: Date }>(
    `UPDATE warehouse.stock SET on_hand = $2, reserved = $3, version = version + 1, updated_at = now()
     WHERE product_id = $1 RETURNING on_hand, reserved, available, version, updated_at`,
    [productId, onHand, reserved],
  );
  await tx.query(
    `INSERT INTO warehouse.movements (product_id, reason, on_hand_delta, reserved_delta, version, source, ref_id, event_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [productId, source.reason ?? change.reason, change.onHand, change.reserved, row!.version, source.source, source.refId ?? null, source.eventId ?? null],
  );
  await effects.publish({
    productId, warehouseId: DEFAULT_WAREHOUSE_ID, onHand: row!.on_hand, reserved: row!.reserved, available: row!.available,
    reason: change.reason, version: row!.version, changedAt: row!.updated_at.toISOString(),
  });
  await effects.viewChanged(tx, productId);
  return { productId, onHand: row!.on_hand, reserved: row!.reserved, available: row!.available, version: row!.version };
}

/** Adds `delta` units on hand (an adjustment through the API). */
export function adjustStock(tx: SqlExecutor, effects: StockEffects, productId: string, adjustment: StockAdjustment): Promise<Stock> {
  return changeStock(tx, effects, productId, { onHand: adjustment.delta, reserved: 0, reason: PUBLISHED_REASON[adjustment.reason] }, { source: 'api', reason: adjustment.reason });
}
