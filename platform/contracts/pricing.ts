import { defineTopic } from 'datasync/core';
import { amount, currency, record, timestamp, uuid, version } from './fields.js';

/**
 * Pricing owns prices: one selling price per product and currency, computed from the list
 * price, active promotions (promotion.ts) and stock (warehouse.ts). Catalog shows it with the
 * product; Search filters and sorts by it. Ordered per product.
 */

/** A product's price in one currency after a change. */
export interface PriceUpdated {
  readonly productId: string;
  readonly currency: string;
  /** The list price, a decimal string. */
  readonly listAmount: string;
  /** What the customer pays now (list price less active promotions); at most the list price. */
  readonly amount: string;
  /** The promotion behind a reduced `amount`, if any. */
  readonly promotionId?: string;
  /** Pricing's version of this product's prices (all currencies); incremented by every change. */
  readonly version: number;
  readonly effectiveFrom: string;
  readonly updatedAt: string;
}

/** A product's price changed (list price, promotion or currency). */
export const priceUpdated = defineTopic<PriceUpdated>({
  name: 'pricing.price.updated',
  version: 1,
  owner: 'pricing',
  subscribers: ['catalog', 'search', 'order', 'checkout'],
  schema: record({
    productId: uuid,
    currency,
    listAmount: amount,
    amount,
    promotionId: uuid,
    version,
    effectiveFrom: timestamp,
    updatedAt: timestamp,
  }, ['productId', 'currency', 'listAmount', 'amount', 'version', 'effectiveFrom', 'updatedAt']),
  partitionKey: (price) => price.productId,
  entityVersion: (price) => price.version,
  description: "A product's selling price in one currency changed; the event carries the whole new price.",
});

/** Every topic Pricing publishes. */
export const pricingTopics = [priceUpdated] as const;
