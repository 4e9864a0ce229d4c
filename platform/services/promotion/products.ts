import type { CloudEvent } from 'datasync';
import { PermanentError } from 'datasync/core';
import type { SqlExecutor } from 'datasync/postgres';
import { applyIfNewer, on, readModelMigration, type AnySubscription, type Producer } from 'datasync/runtime';
import { productCreated, productDeleted, productUpdated, type Product } from '../../contracts/catalog.js';
import { promotionUpdated } from '../../contracts/promotion.js';
import { withdrawProduct } from './promotions.js';

/**
 * Promotion's copy of Catalog's products: which products a promotion may name. Conflict
 * rule: version-based (`applyIfNewer`, Catalog's version); a deleted product stays as a
 * tombstone with its version, and is taken out of every promotion naming it (a promotion left
 * with nothing to apply to ends), published as `promotion.promotion.updated` in the consumer's
 * transaction through Promotion's outbox.
 *
 * Business rule: `catalog.product.created` carries a product's first version (Catalog creates
 * at 1); any other version is dead-lettered.
 */

/** The copy: `promotion.products` (id, version, data, deleted), in datasync's read-model layout. */
export const productCopy = readModelMigration('promotion_0002_products', 'products');

/** What Promotion knows of each of `productIds`: `known`, `deleted` (a tombstone) or `unknown`. */
export async function productStates(db: SqlExecutor, productIds: readonly string[]): Promise<Map<string, 'known' | 'deleted' | 'unknown'>> {
  const { rows } = await db.query<{ id: string; state: 'known' | 'deleted' | 'unknown' }>(
    `SELECT ids.id, CASE WHEN p.id IS NULL THEN 'unknown' WHEN p.deleted THEN 'deleted' ELSE 'known' END AS state
     FROM unnest($1::text[]) AS ids(id) LEFT JOIN promotion.products p ON p.id = ids.id`,
    [productIds],
  );
  return new Map(rows.map((row) => [row.id, row.state]));
}

/** The handlers keeping the copy. */
export function productHandlers(producer: Producer): AnySubscription[] {
  function keep(tx: SqlExecutor, event: CloudEvent<{ id: string }>, data: Product | null): Promise<'applied' | 'stale'> {
    return applyIfNewer(tx, {
      schema: 'promotion', table: 'products', id: event.data.id, version: event.entityversion,
      eventTime: event.time, eventId: event.id, data,
    });
  }
  return [
    on(productCreated, ({ event, tx }) => {
      if (event.data.version !== 1) {
        throw new PermanentError(`catalog.product.created for product ${event.data.id} carries version ${event.data.version}; Catalog creates products at version 1`);
      }
      return keep(tx, event, event.data);
    }),
    on(productUpdated, ({ event, tx }) => keep(tx, event, event.data)),
    on(productDeleted, async ({ event, tx }) => {
      const outcome = await keep(tx, event, null);
      if (outcome === 'applied') {
        await withdrawProduct(tx, (promotion) => producer.publishWithin(tx, promotionUpdated, promotion, { causationId: event.id }), event.data.id);
      }
      return outcome;
    }),
  ];
}
