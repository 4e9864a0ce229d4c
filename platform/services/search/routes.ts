import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import { invalidField } from '../../http/errors.js';
import { searchProducts } from './query.js';

/**
 * Search's HTTP routes, answered from its read model:
 *
 *   GET /search?q=kettle  → 200 {"results": [{"id", "sku", "name", "version"}]}; 400 naming `q` without a query
 */

/** Longest query accepted. */
const QUERY_MAX = 500;

/** Search's routes, to mount at `/search`. `db` reads the read model. */
export function searchRoutes(deps: { readonly db: SqlExecutor }): Hono {
  const routes = new Hono();
  routes.get('/', async (c) => {
    const q = c.req.query('q');
    if (q === undefined) throw invalidField('q', 'is required (GET /search?q=kettle)', 'MISSING_FIELD');
    if (q.trim() === '') throw invalidField('q', 'must not be empty');
    if (q.length > QUERY_MAX) throw invalidField('q', `expected at most ${QUERY_MAX} characters, got ${q.length}`);
    return c.json({ results: await searchProducts(deps.db, q) });
  });
  return routes;
}
