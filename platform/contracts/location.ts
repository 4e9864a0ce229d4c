import { defineTopic } from 'datasync/core';
import { address, oneOf, record, text, timestamp, uuid, version, type Address } from './fields.js';

/**
 * Location owns the company's sites: warehouses, stores and pickup points (the `warehouseId`
 * of warehouse.ts, fulfillment.ts and return.ts is a location's id). Business addresses are
 * not personal data, so nothing here is `x-pii`. Fulfillment keeps a copy of the warehouses
 * it may pick from. Ordered per location.
 */

/**
 * The platform's main warehouse: Location seeds it on its first start and announces it, and
 * Warehouse, Fulfillment and Return use it when nothing names another.
 */
export const DEFAULT_WAREHOUSE_ID = '00000000-0000-4000-8000-000000000001';

/** A site as Location publishes it. */
export interface Location {
  readonly id: string;
  readonly type: 'warehouse' | 'store' | 'pickup-point';
  readonly name: string;
  readonly address: Address;
  /** IANA time zone, e.g. `Europe/Berlin`. */
  readonly timeZone: string;
  readonly active: boolean;
  readonly version: number;
  readonly updatedAt: string;
}

const LocationSchema = record({
  id: uuid,
  type: oneOf(['warehouse', 'store', 'pickup-point']),
  name: text(200),
  address: address(false),
  timeZone: { type: 'string', pattern: '^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$', maxLength: 64 },
  active: { type: 'boolean' },
  version,
  updatedAt: timestamp,
}, ['id', 'type', 'name', 'address', 'timeZone', 'active', 'version', 'updatedAt']);

/** A site was added. */
export const locationCreated = defineTopic<Location>({
  name: 'location.location.created',
  version: 1,
  owner: 'location',
  subscribers: ['fulfillment'],
  schema: LocationSchema,
  partitionKey: (location) => location.id,
  entityVersion: (location) => location.version,
  description: 'A warehouse, store or pickup point was added.',
});

/** A site changed (opened, closed, moved, renamed). */
export const locationUpdated = defineTopic<Location>({
  name: 'location.location.updated',
  version: 1,
  owner: 'location',
  subscribers: ['fulfillment'],
  schema: LocationSchema,
  partitionKey: (location) => location.id,
  entityVersion: (location) => location.version,
  description: 'A warehouse, store or pickup point changed (name, address, active); carries the whole new state.',
});

/** Every topic Location publishes. */
export const locationTopics = [locationCreated, locationUpdated] as const;
