import type { Migration, SqlExecutor } from 'datasync/postgres';

/**
 * Search's queries over its read model: PostgreSQL full-text search on a generated tsvector of
 * each product's SKU, name and description, and of each page's slug, title, summary and tags
 * (the `simple` configuration: no stemming, no stop words, so SKUs and names match as typed,
 * case-insensitively); and the storefront's view of one product.
 */

/** The generated tsvector column and its GIN index on `search.products`. */
export const productsFullText: Migration = {
  id: 'search_0002_products_full_text',
  sql: `ALTER TABLE {schema}.products ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS (
      to_tsvector('simple', coalesce(data->>'sku', '') || ' ' || coalesce(data->>'name', '') || ' ' || coalesce(data->>'description', ''))
    ) STORED;
    CREATE INDEX IF NOT EXISTS products_search_vector ON {schema}.products USING gin (search_vector)`,
};

/** One hit. */
export interface ProductHit {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly version: number;
}

/** Most results one query returns. */
export const SEARCH_LIMIT = 50;

/**
 * Products (not deleted) matching `q` in web-search syntax (`websearch_to_tsquery`: words,
 * "quoted phrases", `or`, `-excluded`), best match first, at most {@link SEARCH_LIMIT}.
 */
export async function searchProducts(db: SqlExecutor, q: string): Promise<ProductHit[]> {
  const { rows } = await db.query<{ id: string; sku: string; name: string; version: string }>(
    `SELECT id, data->>'sku' AS sku, data->>'name' AS name, version
     FROM search.products, websearch_to_tsquery('simple', $1) AS query
     WHERE NOT deleted AND search_vector @@ query
     ORDER BY ts_rank(search_vector, query) DESC, id
     LIMIT ${SEARCH_LIMIT}`,
    [q],
  );
  return rows.map((row) => ({ id: row.id, sku: row.sku, name: row.name, version: Number(row.version) }));
}

/** One page hit. */
export interface PageHit {
  readonly id: string;
  readonly slug: string;
  readonly locale: string;
  readonly title: string;
  readonly version: number;
}

/** Published pages matching `q` (same syntax and order as {@link searchProducts}), at most {@link SEARCH_LIMIT}. */
export async function searchPages(db: SqlExecutor, q: string): Promise<PageHit[]> {
  const { rows } = await db.query<{ id: string; slug: string; locale: string; title: string; version: string }>(
    `SELECT id, data->>'slug' AS slug, data->>'locale' AS locale, data->>'title' AS title, version
     FROM search.pages, websearch_to_tsquery('simple', $1) AS query
     WHERE NOT deleted AND search_vector @@ query
     ORDER BY ts_rank(search_vector, query) DESC, id
     LIMIT ${SEARCH_LIMIT}`,
    [q],
  );
  return rows.map((row) => ({ id: row.id, slug: row.slug, locale: row.locale, title: row.title, version: Number(row.version) }));
}

/**
 * A product as the storefront shows it, from Search's copies: Catalog's fields and version, the
 * price in the currency Pricing changed last (null before any), the units available across
 * warehouses (null before any stock event), and Search's view version (see read-model.ts).
 */
export interface ProductView {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly description: string | null;
  readonly price: { readonly amount: string; readonly currency: string } | null;
  readonly stock: { readonly available: number } | null;
  /** Catalog's version of the product. */
  readonly version: number;
  /** Search's version of this whole view; increases with every change applied to the product, its price or its stock. */
  readonly viewVersion: number;
}

/** The product's view, read in one statement (one snapshot); undefined for an unknown or deleted product. */
export async function readProductView(db: SqlExecutor, id: string): Promise<ProductView | undefined> {
  const { rows: [row] } = await db.query<{
    data: { sku: string; name: string; description?: string }; version: string; view_version: string;
    amount: string | null; currency: string | null; available: string | null;
  }>(
    `SELECT p.data, p.version, p.view_version, price.amount::text AS amount, price.currency::text AS currency, stock.available
     FROM search.products p
     LEFT JOIN LATERAL (SELECT amount, currency FROM search.prices WHERE product_id = p.id ORDER BY version DESC, currency LIMIT 1) price ON true
     LEFT JOIN LATERAL (SELECT sum(available) AS available FROM search.stock WHERE product_id = p.id HAVING count(*) > 0) stock ON true
     WHERE p.id = $1 AND NOT p.deleted`,
    [id],
  );
  if (!row) return undefined;
  return {
    id,
    sku: row.data.sku,
    name: row.data.name,
    description: row.data.description ?? null,
    price: row.amount === null || row.currency === null ? null : { amount: row.amount, currency: row.currency },
    stock: row.available === null ? null : { available: Number(row.available) },
    version: Number(row.version),
    viewVersion: Number(row.view_version),
  };
}
