import { defineTopic } from 'datasync/core';
import { list, oneOf, quantity, record, text, timestamp, uuid, version } from './fields.js';

/**
 * Return owns returns (RMAs): a customer sends back lines of a delivered order. Warehouse
 * restocks resellable units when a return is received; nothing changes in stock on a request.
 * Ordered per return.
 */

/** Why a customer returns a line. */
export type ReturnReason = 'damaged' | 'wrong-item' | 'not-as-described' | 'no-longer-needed' | 'other';

/** A return the customer asked for. */
export interface ReturnRequested {
  readonly id: string;
  readonly orderId: string;
  readonly customerId: string;
  readonly lines: readonly { readonly productId: string; readonly quantity: number; readonly reason: ReturnReason }[];
  readonly comment?: string;
  readonly version: number;
  readonly requestedAt: string;
}

/** Goods of a return arrived at a warehouse and were inspected. */
export interface ReturnReceived {
  readonly id: string;
  readonly orderId: string;
  readonly warehouseId: string;
  readonly lines: readonly { readonly productId: string; readonly quantity: number; readonly condition: 'resellable' | 'damaged' }[];
  readonly version: number;
  readonly receivedAt: string;
}

/** A customer asked to return lines of an order. */
export const returnRequested = defineTopic<ReturnRequested>({
  name: 'return.return.requested',
  version: 1,
  owner: 'return',
  subscribers: [],
  schema: record({
    id: uuid,
    orderId: uuid,
    customerId: uuid,
    lines: list(record({
      productId: uuid, quantity, reason: oneOf(['damaged', 'wrong-item', 'not-as-described', 'no-longer-needed', 'other']),
    }, ['productId', 'quantity', 'reason'])),
    comment: text(1000),
    version,
    requestedAt: timestamp,
  }, ['id', 'orderId', 'customerId', 'lines', 'version', 'requestedAt']),
  partitionKey: (request) => request.id,
  entityVersion: (request) => request.version,
  description: 'A customer asked to return lines of a delivered order.',
});

/** Returned goods arrived and were inspected. */
export const returnReceived = defineTopic<ReturnReceived>({
  name: 'return.return.received',
  version: 1,
  owner: 'return',
  subscribers: ['warehouse', 'payment'],
  schema: record({
    id: uuid,
    orderId: uuid,
    warehouseId: uuid,
    lines: list(record({ productId: uuid, quantity, condition: oneOf(['resellable', 'damaged']) }, ['productId', 'quantity', 'condition'])),
    version,
    receivedAt: timestamp,
  }, ['id', 'orderId', 'warehouseId', 'lines', 'version', 'receivedAt']),
  partitionKey: (received) => received.id,
  entityVersion: (received) => received.version,
  description: 'Returned goods arrived at a warehouse and were inspected; Warehouse restocks the resellable units.',
});

/** Every topic Return publishes. */
export const returnTopics = [returnRequested, returnReceived] as const;
