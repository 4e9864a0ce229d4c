import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { readThrough, type Cache } from 'datasync/cache';
import type { ServiceDirectory } from '../../host/module.js';
import { ApiError } from '../../http/errors.js';
import { uuidField } from '../../http/fields.js';
import type { PageViewLog } from './page-views.js';
import { fetchProductView, type ProductView } from './views.js';

/**
 * The Gateway's routes: the storefront's product page data, as Search sees it, through the
 * Gateway's cache.
 *
 *   GET /products/:id  → 200 {"id", "sku", "name", "description", "price": {"amount", "currency"} | null,
 *                             "stock": {"available"} | null, "version", "viewVersion"}
 *                        headers x-cache: hit | miss, x-session-id
 *                        400 naming `id` unless a UUID (`x-session-id` likewise, when sent); 404 PRODUCT_NOT_FOUND (Search has no such product);
 *                        503 SEARCH_UNAVAILABLE; 503 SEARCH_BEHIND (Retry-After: 1) when Search's answer stays
 *                        older than a view the Gateway has already seen
 *
 * `version` is Catalog's version of the product, `viewVersion` Search's version of the whole
 * view (product, price and stock). The Gateway never serves a view older than one it has seen:
 * its cache keeps, per product, the highest view version filled or named by an invalidation
 * (the floor), refuses older fills, and an answer from Search older than the floor is read
 * again (readThrough) instead of being served.
 *
 * Every 200 is a product page view: published as storefront.page.viewed, in the browsing
 * session the client names in `x-session-id` (a UUID), or a new one returned in that header.
 */

/** What the routes use. */
export interface GatewayRouteDeps {
  readonly services: ServiceDirectory;
  readonly cache: Cache<ProductView>;
  readonly pageViews: PageViewLog;
  readonly onError: (error: unknown) => void;
}

const REFERRER_MAX = 2_000;

/** The referrer to publish: an absolute http(s) URL (normalised, so percent-encoded) of at most 2,000 characters, else none. */
function referrerOf(header: string | undefined): string | undefined {
  if (!header || !URL.canParse(header)) return undefined;
  const url = new URL(header);
  return /^https?:$/.test(url.protocol) && url.href.length <= REFERRER_MAX ? url.href : undefined;
}

/** The Gateway's routes, to mount at `/products`. */
export function gatewayRoutes(deps: GatewayRouteDeps): Hono {
  const routes = new Hono();
  routes.get('/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const sent = c.req.header('x-session-id');
    const sessionId = sent === undefined ? randomUUID() : uuidField('x-session-id', sent);
    c.header('x-session-id', sessionId);
    const found = await readThrough(deps.cache, id, () => fetchProductView(deps.services, id), { onError: deps.onError });
    if (!found) throw new ApiError(404, 'PRODUCT_NOT_FOUND', `id: no product ${id} (never created, deleted, or not yet in Search)`, 'id');
    if (!found.current) {
      c.header('retry-after', '1');
      throw new ApiError(503, 'SEARCH_BEHIND', `Search still answers view version ${found.entry.version} of product ${id}, older than one the Gateway has seen; try again`);
    }
    const referrer = referrerOf(c.req.header('referer'));
    deps.pageViews.record({
      id: randomUUID(), sessionId, path: `/products/${id}`, productId: id, ...(referrer ? { referrer } : {}), viewedAt: new Date().toISOString(),
    });
    c.header('x-cache', found.cache);
    return c.json(found.entry.value);
  });
  return routes;
}
