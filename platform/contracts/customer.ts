import { defineTopic } from 'datasync/core';
import { address, email, oneOf, personName, phone, record, timestamp, uuid, version, type Address } from './fields.js';

/**
 * Customer owns shopper profiles (name, contact, addresses, marketing consent), created from
 * Auth's `auth.account.registered`. Analytics keeps them for segmentation, masking the `x-pii`
 * fields. Ordered per customer; a deletion (right to erasure) is a tombstone one version above.
 */

/** A customer profile as Customer publishes it. */
export interface Customer {
  readonly id: string;
  /** The Auth account the profile belongs to. */
  readonly accountId: string;
  readonly email: string;
  readonly emailVerified: boolean;
  readonly firstName?: string;
  readonly lastName?: string;
  readonly phone?: string;
  readonly defaultShippingAddress?: Address;
  readonly marketingOptIn: boolean;
  readonly segment: 'new' | 'regular' | 'vip';
  /** From auth.account.logged-in. */
  readonly lastLoggedInAt?: string;
  readonly version: number;
  readonly updatedAt: string;
}

/** A profile erased: no personal field is kept. */
export interface CustomerDeleted {
  readonly id: string;
  readonly version: number;
  readonly deletedAt: string;
}

const CustomerSchema = record({
  id: uuid,
  accountId: uuid,
  email,
  emailVerified: { type: 'boolean' },
  firstName: personName,
  lastName: personName,
  phone,
  defaultShippingAddress: address(true),
  marketingOptIn: { type: 'boolean' },
  segment: oneOf(['new', 'regular', 'vip']),
  lastLoggedInAt: timestamp,
  version,
  updatedAt: timestamp,
}, ['id', 'accountId', 'email', 'emailVerified', 'marketingOptIn', 'segment', 'version', 'updatedAt']);

const audience = { owner: 'customer', subscribers: ['analytics', 'order'] } as const;

/** A customer profile was created. */
export const customerCreated = defineTopic<Customer>({
  name: 'customer.customer.created',
  version: 1,
  ...audience,
  schema: CustomerSchema,
  partitionKey: (customer) => customer.id,
  entityVersion: (customer) => customer.version,
  description: 'A customer profile was created for a newly registered account.',
});

/** A customer profile changed. */
export const customerUpdated = defineTopic<Customer>({
  name: 'customer.customer.updated',
  version: 1,
  ...audience,
  schema: CustomerSchema,
  partitionKey: (customer) => customer.id,
  entityVersion: (customer) => customer.version,
  description: 'A customer profile changed (contact, address, consent, segment, last sign-in); carries the whole new state.',
});

/** A customer profile was erased. */
export const customerDeleted = defineTopic<CustomerDeleted>({
  name: 'customer.customer.deleted',
  version: 1,
  ...audience,
  schema: record({ id: uuid, version, deletedAt: timestamp }, ['id', 'version', 'deletedAt']),
  partitionKey: (deleted) => deleted.id,
  entityVersion: (deleted) => deleted.version,
  description: 'A customer profile was erased (account closed or erasure request); copies must drop its personal data.',
});

/** Every topic Customer publishes. */
export const customerTopics = [customerCreated, customerUpdated, customerDeleted] as const;
