import { readThrough, type Cache } from 'datasync/cache';
import type { SqlExecutor } from 'datasync/postgres';
import type { PriceUpdated } from '../../contracts/pricing.js';
import type { CatalogProduct } from './products.js';

/**
 * The product as `GET /catalog/products/:id` shows it: Catalog's product with its price,
 * stock and rating from the copies (copies.ts), served through Catalog's `catalog:product`
 * cache. Its version is the product's `view_version`, which every change of the view
 * increments inside the changing transaction, and every change drops the cached view with
 * that version (so a reader that built the view from an older read cannot store it again).
 */

/** A price as the view shows it.: the fields of its `pricing.price.updated` event the view keeps. */
export type ViewPrice = Pick<PriceUpdated, 'currency' | 'amount' | 'listAmount' | 'promotionId' | 'version'>;

/** The product view. */
export interface ProductView extends CatalogProduct {
  /** The price changed last (null before Pricing has sent one). */
  readonly price: ViewPrice | null;
  /** Every currency's price. */
  readonly prices: readonly ViewPrice[];
  /** Units over every warehouse (null before Warehouse has sent any). */
  readonly stock: { readonly available: number; readonly onHand: number; readonly reserved: number } | null;
  /** Approved reviews: average stars (2 decimals) and how many (null without any). */
  readonly rating: { readonly average: number; readonly count: number } | null;
}

/**
 * Reads the view of product `id` and its version; undefined if Catalog has no such product.
 * The version is read first: a change committed between the two reads has dropped the cache
 * with a higher version, so the older version this fill carries is refused.
 */
export async function readProductView(db: SqlExecutor, id: string): Promise<{ view: ProductView; version: number } | undefined> {
  const { rows: [head] } = await db.query<{ view_version: string }>('SELECT view_version FROM catalog.products WHERE id = $1', [id]);
  if (!head) return undefined;
  const { rows: [row] } = await db.query<{
    id: string; sku: string; name: string; category: string; status: CatalogProduct['status']; description: string | null;
    version: number; updated_at: Date; prices: ViewPrice[] | null;
    available: number | null; on_hand: number | null; reserved: number | null; rating: string | null; ratings: number;
  }>(
    `SELECT p.id, p.sku, p.name, p.category, p.status, p.description, p.version, p.updated_at,
       (SELECT json_agg(json_strip_nulls(json_build_object('currency', pp.currency, 'amount', pp.amount::text, 'listAmount', pp.list_amount::text,
                 'promotionId', pp.promotion_id, 'version', pp.version)) ORDER BY pp.version DESC)
          FROM catalog.product_prices pp WHERE pp.product_id = p.id) AS prices,
       s.available, s.on_hand, s.reserved,
       (SELECT round(avg(r.rating), 2)::text FROM catalog.product_ratings r WHERE r.product_id = p.id AND r.status = 'approved') AS rating,
       (SELECT count(*)::int FROM catalog.product_ratings r WHERE r.product_id = p.id AND r.status = 'approved') AS ratings
     FROM catalog.products p
     LEFT JOIN LATERAL (SELECT sum(available)::int AS available, sum(on_hand)::int AS on_hand, sum(reserved)::int AS reserved
                        FROM catalog.product_stock WHERE product_id = p.id HAVING count(*) > 0) s ON true
     WHERE p.id = $1`,
    [id],
  );
  if (!row) return undefined;
  const prices = row.prices ?? [];
  const view: ProductView = {
    id: row.id, sku: row.sku, name: row.name, category: row.category, status: row.status, description: row.description,
    version: row.version, updatedAt: row.updated_at.toISOString(),
    price: prices[0] ?? null,
    prices,
    stock: row.available === null ? null : { available: row.available, onHand: row.on_hand!, reserved: row.reserved! },
    rating: row.rating === null ? null : { average: Number(row.rating), count: row.ratings },
  };
  return { view, version: Number(head.view_version) };
}

/**
 * The view of product `id` through `cache` (`readThrough`): `hit` when it was cached, `miss`
 * when read (and cached). A cache that fails is reported to `onError` and read around.
 */
export async function cachedProductView(
  db: SqlExecutor, cache: Cache<ProductView>, id: string, onError: (error: unknown) => void,
): Promise<{ view: ProductView; cache: 'hit' | 'miss' } | undefined> {
  const found = await readThrough(cache, id, async () => {
    const read = await readProductView(db, id);
    return read && { value: read.view, version: read.version };
  }, { onError });
  return found && { view: found.entry.value, cache: found.cache };
}
