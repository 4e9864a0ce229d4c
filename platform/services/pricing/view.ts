import { readThrough, type Cache, type CacheEntry } from 'datasync/cache';
import type { SqlExecutor } from 'datasync/postgres';
import type { PriceUpdated } from '../../contracts/pricing.js';

/**
 * A product's prices as `GET /pricing/prices/:productId` shows them, served through Pricing's
 * `pricing:price` cache. Its version is the product's row in `pricing.price_views`, which
 * every change of the view (a price written, re-priced by a promotion or stock change, the
 * stock itself) increments inside the changing transaction while dropping the cached view
 * with that version, so a reader that built the view from an older read cannot store it again.
 */

/** One currency's price in the view.: the fields of its `pricing.price.updated` event the view keeps. */
export type ViewPrice = Pick<PriceUpdated, 'currency' | 'amount' | 'listAmount' | 'promotionId' | 'version'>;

/** The view of one product's prices. */
export interface PriceView {
  readonly productId: string;
  /** Pricing's version of the product's prices (the highest of its currencies). */
  readonly version: number;
  readonly prices: readonly ViewPrice[];
  /** Units available over every warehouse, as Warehouse last said (null before it said anything). */
  readonly stock: { readonly available: number } | null;
}

/** Pricing's views: the cache and the counter behind it. */
export class PriceViews {
  constructor(readonly cache: Cache<PriceView>, private readonly onError: (error: unknown) => void) {}

  /** In the changing transaction: the product's view changed; increments its version and drops the cached view. */
  async changed(tx: SqlExecutor, productId: string): Promise<void> {
    const { rows: [row] } = await tx.query<{ version: string }>(
      `INSERT INTO pricing.price_views AS v (product_id, version) VALUES ($1, 1)
       ON CONFLICT (product_id) DO UPDATE SET version = v.version + 1 RETURNING version`,
      [productId],
    );
    await this.cache.invalidate(productId, Number(row!.version));
  }

  /** The view of the product's prices (`hit` from the cache, `miss` read and cached); undefined if it has no price. */
  async get(db: SqlExecutor, productId: string): Promise<{ view: PriceView; cache: 'hit' | 'miss' } | undefined> {
    const found = await readThrough(this.cache, productId, () => this.read(db, productId), { onError: this.onError });
    return found && { view: found.entry.value, cache: found.cache };
  }

  /** Reads the view and its version from the tables. */
  private async read(db: SqlExecutor, productId: string): Promise<CacheEntry<PriceView> | undefined> {
    // the version first: a change committed after it has dropped the cache with a higher one, so this fill is refused
    const { rows: [head] } = await db.query<{ version: string }>('SELECT version FROM pricing.price_views WHERE product_id = $1', [productId]);
    const { rows: [row] } = await db.query<{ prices: ViewPrice[] | null; available: number | null }>(
      `SELECT (SELECT json_agg(json_strip_nulls(json_build_object('currency', currency, 'amount', sale_amount::text, 'listAmount', amount::text,
                 'promotionId', promotion_id, 'version', version)) ORDER BY currency)
               FROM pricing.prices WHERE product_id = $1) AS prices,
              (SELECT sum(available)::int FROM pricing.stock WHERE product_id = $1) AS available`,
      [productId],
    );
    if (!row?.prices) return undefined;
    const view: PriceView = {
      productId,
      version: Math.max(...row.prices.map((price) => price.version)),
      prices: row.prices,
      stock: row.available === null ? null : { available: row.available },
    };
    return { value: view, version: Number(head?.version ?? 0) };
  }
}
