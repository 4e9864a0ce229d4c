import type { Migration, SqlExecutor } from 'datasync/postgres';

/**
 * Search's queries over its read model: PostgreSQL full-text search on a generated tsvector of
 * each product's SKU, name and description (the `simple` configuration: no stemming, no stop
 * words, so SKUs and names match as typed, case-insensitively).
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
