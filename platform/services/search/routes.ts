import { Hono } from 'hono';
import { readThrough, type Cache } from 'datasync/cache';
import type { SqlExecutor } from 'datasync/postgres';
import { ApiError, invalidField } from '../../http/errors.js';
import { uuidField } from '../../http/fields.js';
import { readProductView, searchPages, searchProducts, type ProductView } from './query.js';

/**
 * Search's HTTP routes, answered from its read model:
 *
 *   GET /search?q=kettle       → 200 {"results": [{"id", "sku", "name", "version"}], "pages": [{"id", "slug", "locale", "title", "version"}]}
 *                                400 naming `q` without a query
 *   GET /search/products/:id   → 200 {"id", "sku", "name", "description", "price": {"amount", "currency"} | null,
 *                                     "stock": {"available"} | null, "version", "viewVersion"}, header x-cache: hit | miss
 *                                400 naming `id` unless a UUID; 404 PRODUCT_NOT_FOUND for an unknown or deleted product
 *
 * The product view is read through Search's `product-view` cache, keyed by product id at its
 * view version; Search's own handlers drop an entry (and raise its floor) with every change
 * they apply to the product, its price or its stock (index.ts).
 */

/** Longest query accepted. */
const QUERY_MAX = 500;

/** What the routes read. */
export interface SearchRouteDeps {
  readonly db: SqlExecutor;
  readonly cache: Cache<ProductView>;
  /** The cache failed; the read was served from the read model. */
  readonly onError: (error: unknown) => void;
}

/** Search's routes, to mount at `/search`. */
export function searchRoutes(deps: SearchRouteDeps): Hono {
  const routes = new Hono();
  routes.get('/', async (c) => {
    const q = c.req.query('q');
    if (q === undefined) throw invalidField('q', 'is required (GET /search?q=kettle)', 'MISSING_FIELD');
    if (q.trim() === '') throw invalidField('q', 'must not be empty');
    if (q.length > QUERY_MAX) throw invalidField('q', `expected at most ${QUERY_MAX} characters, got ${q.length}`);
    const [results, pages] = await Promise.all([searchProducts(deps.db, q), searchPages(deps.db, q)]);
    return c.json({ results, pages });
  });
  routes.get('/products/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const found = await readThrough(deps.cache, id, async () => {
      const view = await readProductView(deps.db, id);
      return view && { value: view, version: view.viewVersion };
    }, { onError: deps.onError });
    if (!found) throw new ApiError(404, 'PRODUCT_NOT_FOUND', `id: Search has no product ${id} (never created, deleted, or not yet arrived)`, 'id');
    c.header('x-cache', found.cache);
    return c.json(found.entry.value);
  });
  return routes;
}
