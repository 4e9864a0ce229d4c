import { defineTopic } from 'datasync/core';
import { oneOf, record, timestamp, uuid, version } from './fields.js';

/**
 * Loyalty owns customers' loyalty accounts: points balance and tier. Customer keeps the tier
 * on the profile. Ordered per loyalty account.
 */

/** A loyalty tier. */
export type Tier = 'bronze' | 'silver' | 'gold' | 'platinum';
const TIERS: readonly Tier[] = ['bronze', 'silver', 'gold', 'platinum'];

/** Points earned, redeemed, expired or adjusted. */
export interface PointsChanged {
  readonly accountId: string;
  readonly customerId: string;
  /** Points added (positive) or taken (negative); never 0. */
  readonly delta: number;
  /** The balance after the change. */
  readonly balance: number;
  readonly reason: 'order' | 'return' | 'redemption' | 'expiry' | 'adjustment';
  /** The order behind `order`, `return` or `redemption`. */
  readonly orderId?: string;
  readonly version: number;
  readonly changedAt: string;
}

/** A move to another tier. */
export interface TierChanged {
  readonly accountId: string;
  readonly customerId: string;
  readonly tier: Tier;
  readonly previousTier: Tier;
  readonly version: number;
  readonly changedAt: string;
}

/** A loyalty account's points changed. */
export const pointsChanged = defineTopic<PointsChanged>({
  name: 'loyalty.account.points-changed',
  version: 1,
  owner: 'loyalty',
  subscribers: [],
  schema: record({
    accountId: uuid,
    customerId: uuid,
    delta: { type: 'integer', not: { const: 0 } },
    balance: { type: 'integer', minimum: 0 },
    reason: oneOf(['order', 'return', 'redemption', 'expiry', 'adjustment']),
    orderId: uuid,
    version,
    changedAt: timestamp,
  }, ['accountId', 'customerId', 'delta', 'balance', 'reason', 'version', 'changedAt']),
  partitionKey: (change) => change.accountId,
  entityVersion: (change) => change.version,
  description: "A loyalty account's points changed; carries the delta and the new balance.",
});

/** A loyalty account moved to another tier. */
export const tierChanged = defineTopic<TierChanged>({
  name: 'loyalty.account.tier-changed',
  version: 1,
  owner: 'loyalty',
  subscribers: ['customer'],
  schema: record({
    accountId: uuid, customerId: uuid, tier: oneOf(TIERS), previousTier: oneOf(TIERS), version, changedAt: timestamp,
  }, ['accountId', 'customerId', 'tier', 'previousTier', 'version', 'changedAt']),
  partitionKey: (change) => change.accountId,
  entityVersion: (change) => change.version,
  description: 'A loyalty account moved to another tier.',
});

/** Every topic Loyalty publishes. */
export const loyaltyTopics = [pointsChanged, tierChanged] as const;
