import { defineTopic } from 'datasync/core';
import { oneOf, record, timestamp, units, uuid, version } from './fields.js';

/**
 * Warehouse owns inventory: how many units of each product each warehouse holds and has
 * reserved for orders. It changes stock from order events (reserve, release), fulfillment
 * events (ship), returns (restock) and counts, and publishes each change. Ordered per product,
 * so every warehouse's figures for one product arrive in commit order.
 */

/** Why stock changed. */
export type StockChangeReason = 'received' | 'reserved' | 'released' | 'shipped' | 'returned' | 'adjusted';

/** One product's stock in one warehouse after a change. */
export interface StockChanged {
  readonly productId: string;
  /** A location of type `warehouse` (location.ts). */
  readonly warehouseId: string;
  /** Units physically present. */
  readonly onHand: number;
  /** Units held for placed orders not yet shipped. */
  readonly reserved: number;
  /** Units that can be sold now: onHand less reserved, never below 0. */
  readonly available: number;
  readonly reason: StockChangeReason;
  /** Warehouse's version of this product's stock (across warehouses), incremented by every change. */
  readonly version: number;
  readonly changedAt: string;
}

/** A product's stock changed in one warehouse. */
export const stockChanged = defineTopic<StockChanged>({
  name: 'warehouse.stock.changed',
  version: 1,
  owner: 'warehouse',
  subscribers: ['catalog', 'search', 'pricing', 'checkout', 'location'],
  schema: record({
    productId: uuid,
    warehouseId: uuid,
    onHand: units,
    reserved: units,
    available: units,
    reason: oneOf(['received', 'reserved', 'released', 'shipped', 'returned', 'adjusted']),
    version,
    changedAt: timestamp,
  }, ['productId', 'warehouseId', 'onHand', 'reserved', 'available', 'reason', 'version', 'changedAt']),
  partitionKey: (stock) => stock.productId,
  entityVersion: (stock) => stock.version,
  description: "A product's stock in one warehouse changed; the event carries the new on-hand, reserved and available units.",
});

/** Every topic Warehouse publishes. */
export const warehouseTopics = [stockChanged] as const;
