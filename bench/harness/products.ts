import type pg from 'pg';
import { quoteIdent, type SqlExecutor } from '../../src/postgres/sql.js';

/**
 * The owner service's own data, the same for every system under test: a
 * `products` table in the owner schema. Each producer transaction changes one
 * product and takes its new version from the row, so versions follow commit order
 * per product, as in a real owner service. The consumer's read model has the same
 * columns (one row per product, newest version wins).
 */
export function productsTableSql(schema: string): string {
  return `CREATE TABLE ${quoteIdent(schema)}.products (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    price_cents bigint NOT NULL,
    version     bigint NOT NULL
  )`;
}

/**
 * Changes product `id` (creating it at version 1) and returns its new version. A
 * named (prepared) statement, as a service with a statement cache runs it: the owner's
 * own write is the same for every system, and parsing and planning it anew each time
 * would only spend CPU the systems under test share with it.
 */
export async function writeProduct(tx: pg.ClientBase, schema: string, id: string, name: string, priceCents: number): Promise<number> {
  const result = await tx.query<{ version: string }>({
    name: `bench_write_product_${schema}`,
    text: `INSERT INTO ${quoteIdent(schema)}.products AS p (id, name, price_cents, version) VALUES ($1, $2, $3, 1)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents, version = p.version + 1
     RETURNING version`,
    values: [id, name, priceCents],
  });
  return Number(result.rows[0]!.version);
}

/**
 * Applies many products to the read model with one multi-row upsert, each only if newer
 * than what is there (the newest version of each id in the list wins). Returns the ids
 * that were written. The baseline applies each read batch this way; datasync's batch
 * handler applies each consumer transaction's events this way.
 */
export async function applyProductsIfNewer(tx: SqlExecutor, schema: string, products: readonly { id: string; name: string; priceCents: number; version: number }[]): Promise<Set<string>> {
  const newest = new Map<string, (typeof products)[number]>();
  for (const p of products) {
    const seen = newest.get(p.id);
    if (!seen || seen.version < p.version) newest.set(p.id, p);
  }
  const rows = [...newest.values()];
  const result = await tx.query<{ id: string }>(
    `INSERT INTO ${quoteIdent(schema)}.products AS r (id, name, price_cents, version)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents, version = EXCLUDED.version
     WHERE r.version < EXCLUDED.version
     RETURNING id`,
    [rows.map((r) => r.id), rows.map((r) => r.name), rows.map((r) => r.priceCents), rows.map((r) => r.version)],
  );
  return new Set(result.rows.map((row) => row.id));
}
