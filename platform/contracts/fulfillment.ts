import { defineTopic } from 'datasync/core';
import { address, list, oneOf, personName, phone, quantity, record, timestamp, uuid, version, type Address } from './fields.js';

/**
 * Fulfillment owns fulfillments (picking and packing an order in one warehouse) and the
 * packages they produce. It starts from Order's events (order.ts). Warehouse turns a shipped
 * fulfillment into stock leaving the building and a cancelled one into released stock;
 * Shipping books a carrier for a package when it is ready for pickup. Ordered per fulfillment
 * and per package.
 */

/** A fulfillment's lifecycle. */
export type FulfillmentStatus = 'created' | 'picking' | 'packed' | 'shipped' | 'cancelled';

/** A fulfillment after a change of status. */
export interface FulfillmentStatusChanged {
  readonly id: string;
  readonly orderId: string;
  readonly warehouseId: string;
  readonly status: FulfillmentStatus;
  readonly lines: readonly { readonly productId: string; readonly quantity: number }[];
  readonly version: number;
  readonly changedAt: string;
}

/** A package's lifecycle inside Fulfillment (after `handed-over`, Shipping's shipment takes over). */
export type PackageStatus = 'packed' | 'ready-for-pickup' | 'handed-over';

/** A package after a change of status. */
export interface PackageStatusChanged {
  readonly id: string;
  readonly fulfillmentId: string;
  readonly orderId: string;
  readonly warehouseId: string;
  readonly status: PackageStatus;
  readonly weightGrams: number;
  readonly dimensionsMm: { readonly length: number; readonly width: number; readonly height: number };
  readonly shipTo: Address & { readonly recipientName: string; readonly phone?: string };
  readonly version: number;
  readonly changedAt: string;
}

/** A fulfillment's status changed. */
export const fulfillmentStatusChanged = defineTopic<FulfillmentStatusChanged>({
  name: 'fulfillment.fulfillment.status-changed',
  version: 1,
  owner: 'fulfillment',
  subscribers: ['warehouse'],
  schema: record({
    id: uuid,
    orderId: uuid,
    warehouseId: uuid,
    status: oneOf(['created', 'picking', 'packed', 'shipped', 'cancelled']),
    lines: list(record({ productId: uuid, quantity }, ['productId', 'quantity'])),
    version,
    changedAt: timestamp,
  }, ['id', 'orderId', 'warehouseId', 'status', 'lines', 'version', 'changedAt']),
  partitionKey: (fulfillment) => fulfillment.id,
  entityVersion: (fulfillment) => fulfillment.version,
  description: "A fulfillment's status changed; Warehouse deducts stock on `shipped` and releases it on `cancelled`.",
});

const millimetres = { type: 'integer', minimum: 1, maximum: 10_000 } as const;

/** A package's status changed. */
export const packageStatusChanged = defineTopic<PackageStatusChanged>({
  name: 'fulfillment.package.status-changed',
  version: 1,
  owner: 'fulfillment',
  subscribers: ['shipping'],
  schema: record({
    id: uuid,
    fulfillmentId: uuid,
    orderId: uuid,
    warehouseId: uuid,
    status: oneOf(['packed', 'ready-for-pickup', 'handed-over']),
    weightGrams: { type: 'integer', minimum: 1 },
    dimensionsMm: record({ length: millimetres, width: millimetres, height: millimetres }, ['length', 'width', 'height']),
    shipTo: address(true, { recipientName: personName }, { phone }),
    version,
    changedAt: timestamp,
  }, ['id', 'fulfillmentId', 'orderId', 'warehouseId', 'status', 'weightGrams', 'dimensionsMm', 'shipTo', 'version', 'changedAt']),
  partitionKey: (pkg) => pkg.id,
  entityVersion: (pkg) => pkg.version,
  description: "A package's status changed; Shipping books a carrier when it is ready for pickup.",
});

/** Every topic Fulfillment publishes. */
export const fulfillmentTopics = [fulfillmentStatusChanged, packageStatusChanged] as const;
