import { defineTopic } from 'datasync/core';
import { email, oneOf, pii, record, timestamp, uuid, version } from './fields.js';

/**
 * Auth owns accounts' credentials and sessions (who can sign in, how). Customer keeps a
 * profile per shopper account: it creates one on `registered`, marks the email verified and
 * records the last sign-in. Ordered per account.
 */

/** How an account signs in. */
export type SignInMethod = 'password' | 'google' | 'apple' | 'magic-link';
const METHODS: readonly SignInMethod[] = ['password', 'google', 'apple', 'magic-link'];

/** A new account. */
export interface AccountRegistered {
  readonly id: string;
  readonly email: string;
  readonly method: SignInMethod;
  readonly version: number;
  readonly registeredAt: string;
}

/** An account proved it owns its email address. */
export interface AccountEmailVerified {
  readonly id: string;
  readonly email: string;
  readonly version: number;
  readonly verifiedAt: string;
}

/** A successful sign-in. */
export interface AccountLoggedIn {
  readonly id: string;
  readonly sessionId: string;
  readonly method: SignInMethod;
  /** The client's IP address (personal). */
  readonly ip: string;
  readonly loggedInAt: string;
}

const audience = { owner: 'auth', subscribers: ['customer', 'user'] } as const;

/** An account was registered. */
export const accountRegistered = defineTopic<AccountRegistered>({
  name: 'auth.account.registered',
  version: 1,
  ...audience,
  schema: record({ id: uuid, email, method: oneOf(METHODS), version, registeredAt: timestamp }, ['id', 'email', 'method', 'version', 'registeredAt']),
  partitionKey: (account) => account.id,
  entityVersion: (account) => account.version,
  description: 'A shopper registered an account; Customer creates its profile.',
});

/** An account's email address was verified. */
export const accountEmailVerified = defineTopic<AccountEmailVerified>({
  name: 'auth.account.email-verified',
  version: 1,
  ...audience,
  schema: record({ id: uuid, email, version, verifiedAt: timestamp }, ['id', 'email', 'version', 'verifiedAt']),
  partitionKey: (account) => account.id,
  entityVersion: (account) => account.version,
  description: "An account verified its email address (the link in the verification mail was followed).",
});

/** An account signed in. */
export const accountLoggedIn = defineTopic<AccountLoggedIn>({
  name: 'auth.account.logged-in',
  version: 1,
  ...audience,
  schema: record({
    id: uuid, sessionId: uuid, method: oneOf(METHODS), ip: pii({ type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] }), loggedInAt: timestamp,
  }, ['id', 'sessionId', 'method', 'ip', 'loggedInAt']),
  // a sign-in does not change the account, so it carries no account version
  partitionKey: (login) => login.id,
  description: 'An account signed in and a session was opened; Customer records the last sign-in.',
});

/** Every topic Auth publishes. */
export const authTopics = [accountRegistered, accountEmailVerified, accountLoggedIn] as const;
