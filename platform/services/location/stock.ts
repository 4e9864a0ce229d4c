import { PermanentError, RetryLaterError } from 'datasync/core';
import type { Migration } from 'datasync/postgres';
import { on, type AnySubscription, type HandlerResult } from 'datasync/runtime';
import { stockChanged } from '../../contracts/warehouse.js';

/**
 * Location's copy of Warehouse's stock: units of each product per location (a stock event's
 * `warehouseId` is a location's id). Conflict rule: version-based (Warehouse's version of the
 * product's stock); a row carries the id of the event that wrote it.
 *
 * Referential rules: stock at a location Location does not have is held (RetryLaterError),
 * then dead-lettered naming the location; stock at a location that is not a warehouse is
 * dead-lettered at once.
 */

/** The copy. */
export const stockTable: Migration = {
  id: 'location_0002_stock',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.stock (
    location_id  uuid NOT NULL,
    product_id   uuid NOT NULL,
    on_hand      integer NOT NULL CHECK (on_hand >= 0),
    reserved     integer NOT NULL CHECK (reserved >= 0),
    available    integer NOT NULL CHECK (available >= 0),
    version      integer NOT NULL,
    event_id     text NOT NULL,
    changed_at   timestamptz NOT NULL,
    PRIMARY KEY (location_id, product_id)
  )`,
};

/** How long a held event waits before its next attempt. */
export const HOLD_DELAY_MS = 1_000;

/** The handler keeping the copy. */
export function stockHandlers(): AnySubscription[] {
  return [
    on(stockChanged, async ({ event, tx, attempt }): Promise<HandlerResult> => {
      const stock = event.data;
      const { rows: [location] } = await tx.query<{ type: string }>('SELECT type FROM location.locations WHERE id = $1', [stock.warehouseId]);
      if (!location) {
        throw new RetryLaterError(
          `stock of product ${stock.productId} at unknown location ${stock.warehouseId}: held ${attempt} attempt${attempt === 1 ? '' : 's'}, Location has no such location`,
          { delayMs: HOLD_DELAY_MS },
        );
      }
      if (location.type !== 'warehouse') {
        throw new PermanentError(`stock of product ${stock.productId} at location ${stock.warehouseId}, which is a ${location.type}, not a warehouse`);
      }
      const { rowCount } = await tx.query(
        `INSERT INTO location.stock AS s (location_id, product_id, on_hand, reserved, available, version, event_id, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (location_id, product_id) DO UPDATE SET on_hand = excluded.on_hand, reserved = excluded.reserved,
           available = excluded.available, version = excluded.version, event_id = excluded.event_id, changed_at = excluded.changed_at
         WHERE s.version < excluded.version`,
        [stock.warehouseId, stock.productId, stock.onHand, stock.reserved, stock.available, stock.version, event.id, stock.changedAt],
      );
      return rowCount === 0 ? 'stale' : 'applied';
    }),
  ];
}
