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
  /** The version of that data Search now holds; a Gateway may keep a response built from it. */
  readonly sourceVersion: number;
  readonly invalidatedAt: string;
}

/** Search's copy of a product changed; the Gateway's cache for it is stale. */
export const productInvalidated = defineTopic<ProductInvalidated>({
  name: 'search.product.invalidated',
  version: 1,
  owner: 'search',
  subscribers: ['gateway'],
  schema: record({
    productId: uuid, cause: oneOf(['product', 'price', 'stock']), sourceVersion: version, invalidatedAt: timestamp,
  }, ['productId', 'cause', 'sourceVersion', 'invalidatedAt']),
  // `sourceVersion` is Catalog's, Pricing's or Warehouse's, not Search's own, so it is not the entity version
  partitionKey: (invalidation) => invalidation.productId,
  description: "Search applied a change to a product; the Gateway drops its cached responses for it.",
});

/** Every topic Search publishes. */
export const searchTopics = [productInvalidated] as const;
