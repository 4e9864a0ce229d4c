import { defineTopic } from 'datasync/core';
import { email, oneOf, personName, record, timestamp, uuid, version } from './fields.js';

/**
 * User owns back-office users (staff: merchandisers, support agents, warehouse operators) and
 * their roles; shoppers are Customer's. Auth keeps a copy to revoke the sessions of a disabled
 * user. Ordered per user.
 */

/** What a staff user may do. */
export type Role = 'admin' | 'merchandiser' | 'support' | 'warehouse-operator' | 'finance';

/** A staff user as User publishes it. */
export interface StaffUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly roles: readonly Role[];
  readonly status: 'invited' | 'active' | 'disabled';
  readonly version: number;
  readonly updatedAt: string;
}

const UserSchema = record({
  id: uuid,
  email,
  name: personName,
  roles: { type: 'array', uniqueItems: true, maxItems: 5, items: oneOf(['admin', 'merchandiser', 'support', 'warehouse-operator', 'finance']) },
  status: oneOf(['invited', 'active', 'disabled']),
  version,
  updatedAt: timestamp,
}, ['id', 'email', 'name', 'roles', 'status', 'version', 'updatedAt']);

/** A staff user was invited. */
export const userCreated = defineTopic<StaffUser>({
  name: 'user.user.created',
  version: 1,
  owner: 'user',
  subscribers: [],
  schema: UserSchema,
  partitionKey: (user) => user.id,
  entityVersion: (user) => user.version,
  description: 'A back-office user was invited with their roles.',
});

/** A staff user changed (roles, status, name). */
export const userUpdated = defineTopic<StaffUser>({
  name: 'user.user.updated',
  version: 1,
  owner: 'user',
  subscribers: ['auth'],
  schema: UserSchema,
  partitionKey: (user) => user.id,
  entityVersion: (user) => user.version,
  description: "A back-office user's roles, status or name changed; carries the whole new state.",
});

/** Every topic User publishes. */
export const userTopics = [userCreated, userUpdated] as const;
