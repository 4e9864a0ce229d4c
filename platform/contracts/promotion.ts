import { defineTopic } from 'datasync/core';
import { amount, currency, oneOf, record, text, timestamp, uuid, version } from './fields.js';

/**
 * Promotion owns promotions: discounts on products or categories for a period, with or
 * without a coupon code. Pricing recomputes the affected prices (pricing.ts) from them.
 * Ordered per promotion; a deletion is a tombstone one version above the last state.
 */

/** A promotion as Promotion publishes it. */
export interface Promotion {
  readonly id: string;
  readonly name: string;
  /** A coupon code the customer enters; absent for an automatic promotion. */
  readonly code?: string;
  readonly status: 'draft' | 'active' | 'paused' | 'ended';
  /** `percentage`: value is a percent (e.g. `15`); `fixed-amount`: value is money in `currency`. */
  readonly discountType: 'percentage' | 'fixed-amount';
  readonly value: string;
  /** Required for `fixed-amount`. */
  readonly currency?: string;
  /** The products it applies to; with `categories`, either may be empty but not both. */
  readonly productIds: readonly string[];
  readonly categories: readonly string[];
  readonly startsAt: string;
  readonly endsAt?: string;
  readonly version: number;
  readonly updatedAt: string;
}

/** A promotion removed. */
export interface PromotionDeleted {
  readonly id: string;
  readonly version: number;
  readonly deletedAt: string;
}

const PromotionSchema = {
  ...record({
    id: uuid,
    name: text(200),
    code: { type: 'string', pattern: '^[A-Z0-9-]{3,32}$' },
    status: oneOf(['draft', 'active', 'paused', 'ended']),
    discountType: oneOf(['percentage', 'fixed-amount']),
    value: amount,
    currency,
    productIds: { type: 'array', maxItems: 1000, uniqueItems: true, items: uuid },
    categories: { type: 'array', maxItems: 100, uniqueItems: true, items: text(64) },
    startsAt: timestamp,
    endsAt: timestamp,
    version,
    updatedAt: timestamp,
  }, ['id', 'name', 'status', 'discountType', 'value', 'productIds', 'categories', 'startsAt', 'version', 'updatedAt']),
  // a fixed amount is money, so it needs its currency
  if: { properties: { discountType: { const: 'fixed-amount' } } },
  then: { properties: { currency }, required: ['currency'] },
};

const audience = { owner: 'promotion', subscribers: ['pricing'] } as const;

/** A promotion was created. */
export const promotionCreated = defineTopic<Promotion>({
  name: 'promotion.promotion.created',
  version: 1,
  ...audience,
  schema: PromotionSchema,
  partitionKey: (promotion) => promotion.id,
  entityVersion: (promotion) => promotion.version,
  description: 'A promotion was created (usually as a draft or scheduled).',
});

/** A promotion changed (activated, paused, ended, edited). */
export const promotionUpdated = defineTopic<Promotion>({
  name: 'promotion.promotion.updated',
  version: 1,
  ...audience,
  schema: PromotionSchema,
  partitionKey: (promotion) => promotion.id,
  entityVersion: (promotion) => promotion.version,
  description: 'A promotion changed (status, discount, scope or period); carries the whole new state.',
});

/** A promotion was deleted. */
export const promotionDeleted = defineTopic<PromotionDeleted>({
  name: 'promotion.promotion.deleted',
  version: 1,
  ...audience,
  schema: record({ id: uuid, version, deletedAt: timestamp }, ['id', 'version', 'deletedAt']),
  partitionKey: (deleted) => deleted.id,
  entityVersion: (deleted) => deleted.version,
  description: 'A promotion was deleted; Pricing drops it from every price it affected.',
});

/** Every topic Promotion publishes. */
export const promotionTopics = [promotionCreated, promotionUpdated, promotionDeleted] as const;
