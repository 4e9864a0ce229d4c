import { readThrough, type Cache, type CacheEntry } from 'datasync/cache';
import type { SqlExecutor } from 'datasync/postgres';
import { DEFAULT_WAREHOUSE_ID } from './stock.js';

/**
 * A product's stock as `GET /warehouse/stock/:productId` shows it, with the SKU and name from
 * Warehouse's copy of the product, served through Warehouse's `warehouse:stock` cache. Its
 * version is the product's row in `warehouse.stock_views`, which every stock change and every
 * applied product event increments inside the changing transaction while dropping the cached
 * view with that version, so a reader that built the view from an older read cannot store it again.
 */

/** The view of one product's stock. */
export interface StockView {
  readonly productId: string;
  readonly warehouseId: string;
  /** From the copy of Catalog's product; `status` is `deleted` for a deleted one (then without sku and name). null before the copy has it. */
  readonly product: { readonly sku?: string; readonly name?: string; readonly status: string } | null;
  readonly onHand: number;
  readonly reserved: number;
  readonly available: number;
  /** Warehouse's version of the product's stock (0 before any change). */
  readonly version: number;
}

/** Warehouse's views: the cache and the counter behind it. */
export class StockViews {
  constructor(readonly cache: Cache<StockView>, private readonly onError: (error: unknown) => void) {}

  /** In the changing transaction: the product's view changed; increments its version and drops the cached view. */
  readonly changed = async (tx: SqlExecutor, productId: string): Promise<void> => {
    const { rows: [row] } = await tx.query<{ version: string }>(
      `INSERT INTO warehouse.stock_views AS v (product_id, version) VALUES ($1, 1)
       ON CONFLICT (product_id) DO UPDATE SET version = v.version + 1 RETURNING version`,
      [productId],
    );
    await this.cache.invalidate(productId, Number(row!.version));
  };

  /** The product's stock view (`hit` from the cache, `miss` read and cached); undefined if Warehouse knows neither the product nor stock of it. */
  async get(db: SqlExecutor, productId: string): Promise<{ view: StockView; cache: 'hit' | 'miss' } | undefined> {
    const found = await readThrough(this.cache, productId, () => this.read(db, productId), { onError: this.onError });
    return found && { view: found.entry.value, cache: found.cache };
  }

  /** Reads the view and its version from the tables. */
  private async read(db: SqlExecutor, productId: string): Promise<CacheEntry<StockView> | undefined> {
    // the version first: a change committed after it has dropped the cache with a higher one, so this fill is refused
    const { rows: [head] } = await db.query<{ version: string }>('SELECT version FROM warehouse.stock_views WHERE product_id = $1', [productId]);
    const { rows: [row] } = await db.query<{
      on_hand: number | null; reserved: number | null; available: number | null; version: number | null;
      copied: boolean; deleted: boolean | null; data: { sku: string; name: string; status: string } | null;
    }>(
      `SELECT s.on_hand, s.reserved, s.available, s.version, p.id IS NOT NULL AS copied, p.deleted, p.data
       FROM (SELECT $1::uuid AS id) wanted
       LEFT JOIN warehouse.stock s ON s.product_id = wanted.id
       LEFT JOIN warehouse.products p ON p.id = wanted.id::text`,
      [productId],
    );
    if (!row || (row.version === null && !row.copied)) return undefined;
    const view: StockView = {
      productId,
      warehouseId: DEFAULT_WAREHOUSE_ID,
      product: !row.copied ? null : row.deleted ? { status: 'deleted' } : { sku: row.data!.sku, name: row.data!.name, status: row.data!.status },
      onHand: row.on_hand ?? 0,
      reserved: row.reserved ?? 0,
      available: row.available ?? 0,
      version: row.version ?? 0,
    };
    return { value: view, version: Number(head?.version ?? 0) };
  }
}
