import { PermanentError, RetryLaterError } from 'datasync/core';
import type { SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type Producer } from 'datasync/runtime';
import { accountEmailVerified, accountLoggedIn, accountRegistered } from '../../contracts/auth.js';
import type { Customer } from '../../contracts/customer.js';
import { tierChanged, type Tier } from '../../contracts/loyalty.js';
import { messageFailed } from '../../contracts/notification.js';
import { changeCustomer, createCustomer, lockCustomer, lockCustomerByEmail, type CustomerRow, type Publish } from './customers.js';

/**
 * What Customer does with the events it consumes. Changes it makes are published through its
 * own outbox in the consumer's transaction (`producer.publishWithin`). An event about an
 * account or customer Customer does not know (yet) is held and retried (RetryLaterError), then
 * dead-lettered with that reason; one about an erased profile changes nothing.
 *
 * - `auth.account.registered`: the account's profile. A profile with that email and no account
 *   (made through the API) is linked to it; otherwise a new profile with the email only (the
 *   registration carries no name). An email whose profile is linked to **another** account is
 *   refused (PermanentError): one profile per account, a human merges.
 * - `auth.account.email-verified`: `emailVerified` true (once; later repeats are `stale`).
 * - `auth.account.logged-in`: `lastLoggedInAt`, latest wins (an older sign-in is `stale`).
 * - `loyalty.account.tier-changed`: the tier, version-based on Loyalty's account version; the
 *   published segment follows it (gold and platinum are `vip`, the others `regular`).
 * - `notification.message.failed`: a hard bounce (`error` starting `hard-bounce`) marks the
 *   profile's email bouncing, with a bounce row per message. Other failures, and recipients
 *   that are no customer's email, are none of Customer's business.
 */

/** How long an event about an unknown account or customer waits before its next try. */
export const HOLD_MS = 1_000;

function hold(what: string): RetryLaterError {
  return new RetryLaterError(`${what} is unknown to Customer: held for the event that creates it`, { delayMs: HOLD_MS });
}

/** The segment a loyalty tier puts a customer in. */
export function segmentOf(tier: Tier): Customer['segment'] {
  return tier === 'gold' || tier === 'platinum' ? 'vip' : 'regular';
}

export function customerHandlers(producer: Producer): AnySubscription[] {
  const outbox = (tx: SqlExecutor, causationId: string): Publish =>
    (topic, data) => producer.publishWithin(tx, topic, data, { causationId });

  /** The live profile of `accountId`; held while unknown, undefined when erased. */
  async function profileOfAccount(tx: SqlExecutor, accountId: string): Promise<CustomerRow | undefined> {
    const row = await lockCustomer(tx, 'account_id', accountId);
    if (!row) throw hold(`account ${accountId}`);
    return row.deleted_at === null ? row : undefined;
  }

  return [
    on(accountRegistered, async ({ event, tx }) => {
      const account = event.data;
      if (await lockCustomer(tx, 'account_id', account.id)) return 'stale';
      const existing = await lockCustomerByEmail(tx, account.email);
      if (existing && existing.account_id !== null) {
        throw new PermanentError(`customer ${existing.id} is linked to account ${existing.account_id}; account ${account.id} registered with the same email: `
          + 'one profile per account, not linked (merge the two by hand)');
      }
      if (existing) await changeCustomer(tx, outbox(tx, event.id), existing.id, { account_id: account.id });
      else await createCustomer(tx, outbox(tx, event.id), { email: account.email, accountId: account.id });
      return 'applied';
    }),

    on(accountEmailVerified, async ({ event, tx }) => {
      const row = await profileOfAccount(tx, event.data.id);
      if (!row || row.email_verified) return 'stale';
      await changeCustomer(tx, outbox(tx, event.id), row.id, { email_verified: true });
      return 'applied';
    }),

    on(accountLoggedIn, async ({ event, tx }) => {
      const row = await profileOfAccount(tx, event.data.id);
      if (!row || (row.last_logged_in_at && row.last_logged_in_at >= new Date(event.data.loggedInAt))) return 'stale';
      await changeCustomer(tx, outbox(tx, event.id), row.id, { last_logged_in_at: event.data.loggedInAt });
      return 'applied';
    }),

    on(tierChanged, async ({ event, tx }) => {
      const change = event.data;
      const row = await lockCustomer(tx, 'id', change.customerId);
      if (!row) throw hold(`customer ${change.customerId}`);
      if (row.deleted_at !== null || row.tier_version >= change.version) return 'stale';
      await tx.query('UPDATE customer.customers SET tier = $2, tier_version = $3 WHERE id = $1', [row.id, change.tier, change.version]);
      const segment = segmentOf(change.tier);
      if (segment !== row.segment) await changeCustomer(tx, outbox(tx, event.id), row.id, { segment });
      return 'applied';
    }),

    on(messageFailed, async ({ event, tx }) => {
      const message = event.data;
      if (!message.error?.startsWith('hard-bounce')) return 'applied';
      let row: CustomerRow | undefined;
      if (message.customerId) {
        row = await lockCustomer(tx, 'id', message.customerId);
        if (!row) throw hold(`customer ${message.customerId}`);
      } else if (message.channel === 'email') {
        row = await lockCustomerByEmail(tx, message.recipient);
      }
      if (!row || row.deleted_at !== null) return 'applied';
      await tx.query(
        'INSERT INTO customer.bounces (customer_id, message_id, error, bounced_at, event_id) VALUES ($1, $2, $3, $4, $5)',
        [row.id, message.id, message.error, message.occurredAt, event.id],
      );
      await tx.query('UPDATE customer.customers SET email_bouncing_since = coalesce(email_bouncing_since, $2) WHERE id = $1', [row.id, message.occurredAt]);
      return 'applied';
    }),
  ];
}
