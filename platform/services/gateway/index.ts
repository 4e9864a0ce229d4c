/**
 * Gateway: the storefront's API in front of the services (the seed's "API-only service"). It
 * serves product pages as Search sees them through a cache of product views that Search's
 * invalidation events drop, and it never serves a view older than one it has seen. It keeps no
 * business data; it reports the product pages it served to Analytics.
 *
 * Owns:            gateway.invalidations (a 7-day log of the invalidations applied; invalidations.ts)
 * Publishes:       storefront.page.viewed for every product page served (batched into its outbox; page-views.ts)
 * Keeps a copy of: nothing; consumes search.product.invalidated v2 to drop cached views
 * Conflict rule:   version-based on Search's view version: the cache's floor per product is the highest
 *                  view version filled or named by an invalidation; older fills are refused
 * Cache:           `gateway:product-view` (GET /products/:id), keyed by product id at Search's view version
 */
import type { PlatformModule } from '../../host/module.js';
import { pageViewed } from '../../contracts/storefront.js';
import { gatewayAudit } from './audit.js';
import { invalidationHandler, invalidationsTable, pruneInvalidations } from './invalidations.js';
import { PageViewLog } from './page-views.js';
import { gatewayRoutes } from './routes.js';
import type { ProductView } from './views.js';

export type { ProductView } from './views.js';

/** How often the invalidation log is pruned. */
const PRUNE_EVERY_MS = 10 * 60 * 1_000;

/** The Gateway. */
export const gatewayModule: PlatformModule = {
  name: 'gateway',
  summary: "The storefront's API: product pages as Search sees them, through a cache that Search's invalidations drop",
  migrations: [invalidationsTable],
  publishes: [pageViewed],
  mount: '/products',
  build(ctx) {
    const cache = ctx.cache.open<ProductView>('gateway', 'product-view');
    const pageViews = new PageViewLog(ctx.producer, ctx.onError);
    const prune = setInterval(() => void pruneInvalidations(ctx.pool).catch(ctx.onError), PRUNE_EVERY_MS);
    prune.unref();
    return {
      handlers: [invalidationHandler(cache)],
      routes: gatewayRoutes({ services: ctx.services, cache, pageViews, onError: ctx.onError }),
      async close() {
        clearInterval(prune);
        await pageViews.flush();
      },
    };
  },
  audit: gatewayAudit,
};
