import { defineTopic } from 'datasync/core';
import { amount, currency, oneOf, record, text, timestamp, uuid, version } from './fields.js';

/**
 * Shipping owns shipments: a package (fulfillment.ts) booked with a carrier, from label to
 * delivery. It consumes Fulfillment's package status; carriers' tracking updates reach it over
 * HTTP/polling and become `shipping.shipment.status-changed`, which Order follows (shipped,
 * delivered) and Notification tells the customer about. Ordered per shipment.
 */

/** A shipment's tracking status. */
export type ShipmentStatus = 'label-created' | 'in-transit' | 'out-for-delivery' | 'delivered' | 'exception' | 'returned-to-sender';
const SHIPMENT_STATUSES: readonly ShipmentStatus[] = ['label-created', 'in-transit', 'out-for-delivery', 'delivered', 'exception', 'returned-to-sender'];

/** A package booked with a carrier. */
export interface ShipmentCreated {
  readonly id: string;
  readonly packageId: string;
  readonly orderId: string;
  readonly carrier: string;
  /** The carrier's service level, e.g. `standard`, `express`. */
  readonly service: string;
  readonly trackingNumber: string;
  /** What the carrier charges the shop. */
  readonly cost: string;
  readonly currency: string;
  readonly version: number;
  readonly createdAt: string;
}

/** A shipment's new tracking status. */
export interface ShipmentStatusChanged {
  readonly id: string;
  readonly orderId: string;
  readonly trackingNumber: string;
  readonly status: ShipmentStatus;
  readonly previousStatus: ShipmentStatus;
  /** The carrier's estimate, while in transit. */
  readonly estimatedDeliveryAt?: string;
  readonly version: number;
  readonly changedAt: string;
}

const carrier = oneOf(['dhl', 'ups', 'fedex', 'dpd', 'gls', 'usps']);
const trackingNumber = { type: 'string', pattern: '^[A-Za-z0-9]{6,40}$' };

/** A package was booked with a carrier and labelled. */
export const shipmentCreated = defineTopic<ShipmentCreated>({
  name: 'shipping.shipment.created',
  version: 1,
  owner: 'shipping',
  subscribers: [],
  schema: record({
    id: uuid, packageId: uuid, orderId: uuid, carrier, service: text(32), trackingNumber, cost: amount, currency, version, createdAt: timestamp,
  }, ['id', 'packageId', 'orderId', 'carrier', 'service', 'trackingNumber', 'cost', 'currency', 'version', 'createdAt']),
  partitionKey: (shipment) => shipment.id,
  entityVersion: (shipment) => shipment.version,
  description: 'A package was booked with a carrier; carries the tracking number and the carrier cost.',
});

/** A shipment's tracking status changed. */
export const shipmentStatusChanged = defineTopic<ShipmentStatusChanged>({
  name: 'shipping.shipment.status-changed',
  version: 1,
  owner: 'shipping',
  subscribers: ['order', 'notification'],
  schema: record({
    id: uuid,
    orderId: uuid,
    trackingNumber,
    status: oneOf(SHIPMENT_STATUSES),
    previousStatus: oneOf(SHIPMENT_STATUSES),
    estimatedDeliveryAt: timestamp,
    version,
    changedAt: timestamp,
  }, ['id', 'orderId', 'trackingNumber', 'status', 'previousStatus', 'version', 'changedAt']),
  partitionKey: (shipment) => shipment.id,
  entityVersion: (shipment) => shipment.version,
  description: "A shipment's tracking status changed (in transit, delivered, exception, …).",
});

/** Every topic Shipping publishes. */
export const shippingTopics = [shipmentCreated, shipmentStatusChanged] as const;
