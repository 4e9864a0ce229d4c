import { defineTopic } from 'datasync/core';
import { oneOf, pii, record, text, timestamp, uuid } from './fields.js';

/**
 * Notification owns outgoing messages (email, SMS, push) and their delivery outcome. No
 * service consumes its message events today (the seed's section 7).
 *
 * It consumes system errors: `notification.system-error.reported` is Notification's intake
 * contract (it owns the schema and alerts the on-call channel), published by every service
 * that runs an event consumer when it dead-letters an event or gives up on a compensation.
 * Notification does not publish it itself, so a failure to alert cannot feed itself.
 */

/** Where a message goes. */
export type Channel = 'email' | 'sms' | 'push';

/** A message handed to the provider, or refused by it. */
export interface MessageOutcome {
  readonly id: string;
  readonly channel: Channel;
  /** An email address, a phone number or a device token (personal). */
  readonly recipient: string;
  /** The customer it was for, when there is one. */
  readonly customerId?: string;
  /** The template, e.g. `order-confirmation`. */
  readonly template: string;
  /** The provider's message id (sent) or error (failed). */
  readonly providerReference?: string;
  readonly error?: string;
  readonly occurredAt: string;
}

/** A service reporting a failure that needs a human. */
export interface SystemErrorReported {
  readonly id: string;
  /** The reporting service. */
  readonly service: string;
  readonly severity: 'warning' | 'error' | 'critical';
  /** A SyncError code or the service's own, e.g. `DEAD_LETTERED`. */
  readonly code: string;
  /** One line; never personal data (payloads stay in the dead-letter table). */
  readonly message: string;
  /** The topic of the event that failed, if any. */
  readonly topic?: string;
  /** The id of the event that failed, if any. */
  readonly eventId?: string;
  readonly occurredAt: string;
}

const messageSchema = (required: readonly string[]) => record({
  id: uuid,
  channel: oneOf(['email', 'sms', 'push']),
  recipient: pii(text(320)),
  customerId: uuid,
  template: { type: 'string', pattern: '^[a-z][a-z0-9-]{1,63}$' },
  providerReference: text(255),
  error: text(500),
  occurredAt: timestamp,
}, ['id', 'channel', 'recipient', 'template', 'occurredAt', ...required]);

/** A message was handed to the provider. */
export const messageSent = defineTopic<MessageOutcome>({
  name: 'notification.message.sent',
  version: 1,
  owner: 'notification',
  subscribers: [],
  schema: messageSchema(['providerReference']),
  partitionKey: (message) => message.id,
  description: 'A message (email, SMS, push) was handed to the provider for delivery.',
});

/** The provider refused a message, or retries ran out. */
export const messageFailed = defineTopic<MessageOutcome>({
  name: 'notification.message.failed',
  version: 1,
  owner: 'notification',
  subscribers: ['customer'],
  schema: messageSchema(['error']),
  partitionKey: (message) => message.id,
  description: 'A message could not be delivered (provider refused it or retries ran out); carries the error.',
});

/** The services that run event consumers, so can dead-letter (the seed's section 7 "Data Consumer" column). */
export const SYSTEM_ERROR_REPORTERS = [
  'catalog', 'search', 'warehouse', 'pricing', 'analytics', 'order', 'checkout', 'payment', 'fulfillment', 'shipping', 'customer',
  'promotion', 'return', 'auth', 'user', 'review', 'loyalty', 'location',
] as const;

/** A service reported a failure that needs a human (see the module comment). */
export const systemErrorReported = defineTopic<SystemErrorReported>({
  name: 'notification.system-error.reported',
  // v2: every service of the platform may report (v1's enum named the nine consumers of the time)
  version: 2,
  owner: 'notification',
  publishers: SYSTEM_ERROR_REPORTERS,
  subscribers: ['notification'],
  schema: record({
    id: uuid,
    service: { type: 'string', enum: [...SYSTEM_ERROR_REPORTERS] },
    severity: oneOf(['warning', 'error', 'critical']),
    code: { type: 'string', pattern: '^[A-Z][A-Z0-9_]{1,63}$' },
    message: text(500),
    topic: { type: 'string', pattern: '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*){2,}$' },
    eventId: uuid,
    occurredAt: timestamp,
  }, ['id', 'service', 'severity', 'code', 'message', 'occurredAt']),
  // errors of one service stay in order (and one service's storm stays in one partition)
  partitionKey: (error) => error.service,
  description: 'A service dead-lettered an event or failed a compensation; Notification alerts the on-call channel.',
});

/** Every topic Notification owns. */
export const notificationTopics = [messageSent, messageFailed, systemErrorReported] as const;
