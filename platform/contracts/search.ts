import { defineTopic } from 'datasync/core';
import { oneOf, record, timestamp, uuid, version } from './fields.js';

/**
 * Search owns no business data, but it is the one that knows when what the storefront shows
 * of a product changed: after it applies a product, price or stock event to its read model it
 * tells the Gateway to drop its cached responses for that product (the seed's "Confirm Gateway
 * cache invalidation works for product/price updates from Search service"). Ordered per product.
 */

/** A product whose cached responses are stale. */
export interface ProductInvalidated {
  readonly productId: string;
  /** What changed in Search's copy. */
  readonly cause: 'product' | 'price' | 'stock';
  /** The version of that data (Catalog's, Pricing's or Warehouse's) Search now holds. */
  readonly sourceVersion: number;
  /**
   * Search's version of its whole view of the product after the change (v2): it increases with
   * every change Search applies to the product, whatever the cause, so a Gateway may keep a
   * response built from this view version or a newer one and must refuse anything older.
   * Search makes it a hybrid logical clock: greatest(previous + 1, milliseconds since the epoch
   * when the change was applied), so it also survives a rebuild of Search's read model and is
   * never more than a moment ahead of the clock.
   */
  readonly viewVersion: number;
  readonly invalidatedAt: string;
}

/** Search's copy of a product changed; the Gateway's cache for it is stale. */
export const productInvalidated = defineTopic<ProductInvalidated>({
  name: 'search.product.invalidated',
  // v2 added `viewVersion`: v1's `sourceVersion` belongs to one of three owners, so versions of
  // different causes could not be compared and a Gateway could not tell an older view from a newer one
  version: 2,
  owner: 'search',
  subscribers: ['gateway'],
  schema: record({
    productId: uuid, cause: oneOf(['product', 'price', 'stock']), sourceVersion: version, viewVersion: version, invalidatedAt: timestamp,
  }, ['productId', 'cause', 'sourceVersion', 'viewVersion', 'invalidatedAt']),
  partitionKey: (invalidation) => invalidation.productId,
  // Search's own view version is the entity version (`sourceVersion` is another owner's)
  entityVersion: (invalidation) => invalidation.viewVersion,
  description: "Search applied a change to a product; the Gateway drops its cached responses for it.",
});

/** Every topic Search publishes. */
export const searchTopics = [productInvalidated] as const;
