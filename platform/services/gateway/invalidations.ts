import { PermanentError } from 'datasync/core';
import type { Cache } from 'datasync/cache';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { on, type Subscription } from 'datasync/runtime';
import { productInvalidated, type ProductInvalidated } from '../../contracts/search.js';
import type { ProductView } from './views.js';

/**
 * The Gateway's consumer: search.product.invalidated drops the cached view of the product and
 * raises its floor to the invalidation's view version (Search's, see contracts/search.ts), so
 * the Gateway never again stores (or serves) a view older than that. Each applied invalidation
 * is logged (`gateway.invalidations`, kept 7 days) with the event that caused it.
 *
 * The one invalidation it refuses: a view version further ahead of the clock than Search's
 * hybrid logical clock can be (a broken clock or a corrupted event). Raising the floor to it
 * would keep the product out of the cache until the floor expired (24 h); instead the entry is
 * dropped without a floor, and the event is dead-lettered for a human.
 */

/** The invalidation log. */
export const invalidationsTable: Migration = {
  id: 'gateway_0001_invalidations',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.invalidations (
    id              bigserial PRIMARY KEY,
    event_id        text NOT NULL,
    product_id      uuid NOT NULL,
    cause           text NOT NULL,
    source_version  bigint NOT NULL,
    view_version    bigint NOT NULL,
    invalidated_at  timestamptz NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS invalidations_product ON {schema}.invalidations (product_id, view_version);
  CREATE INDEX IF NOT EXISTS invalidations_applied_at ON {schema}.invalidations (applied_at)`,
};

/** How far ahead of the Gateway's clock a view version may be (clock skew between hosts, bursts within one ms). */
export const MAX_VIEW_VERSION_AHEAD_MS = 60 * 60 * 1_000;

/** How long the invalidation log keeps a row. */
export const INVALIDATION_LOG_RETENTION_DAYS = 7;

/** Deletes log rows past the retention. */
export async function pruneInvalidations(db: SqlExecutor): Promise<void> {
  await db.query(`DELETE FROM gateway.invalidations WHERE applied_at < now() - make_interval(days => $1)`, [INVALIDATION_LOG_RETENTION_DAYS]);
}

/** The handler, dropping entries of `cache`. */
export function invalidationHandler(cache: Cache<ProductView>): Subscription<ProductInvalidated> {
  return on(productInvalidated, async ({ event, tx }) => {
    const { productId, cause, sourceVersion, viewVersion, invalidatedAt } = event.data;
    const ahead = viewVersion - Date.now();
    if (ahead > MAX_VIEW_VERSION_AHEAD_MS) {
      await cache.invalidate(productId);
      throw new PermanentError(
        `search.product.invalidated for product ${productId} names view version ${viewVersion}, ${Math.round(ahead / 60_000)} minutes ahead of the Gateway's clock `
        + `(Search's view versions are at most a moment ahead): raising the cache floor to it would keep the product out of the cache for a day, `
        + 'so the cached view was dropped and the floor left as it was',
      );
    }
    await cache.invalidate(productId, viewVersion);
    await tx.query(
      `INSERT INTO gateway.invalidations (event_id, product_id, cause, source_version, view_version, invalidated_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [event.id, productId, cause, sourceVersion, viewVersion, invalidatedAt],
    );
  });
}
