import { PermanentError } from 'datasync/core';
import { on, type AnySubscription, type Producer } from 'datasync/runtime';
import { accountEmailVerified, accountLoggedIn, accountRegistered } from '../../contracts/auth.js';
import { activate, userOfAccount, userOfEmail, type Publish } from './users.js';

/**
 * What User does with Auth's account events. Staff users and Auth accounts are linked by
 * email: when an account registers with the email of an invited staff user, User links it
 * (`account_id`) and activates the user. Every other account is a shopper's and is ignored
 * (apart from remembering its email, for an invitation that comes after the registration).
 * All three topics are partitioned by account id, so a sign-in never overtakes its
 * registration within User.
 *
 * - `registered`: remembered once (a repeat changes nothing: `stale`); an invited staff user
 *   with that email is activated (publishes `user.user.updated` through User's outbox, in this
 *   transaction). A staff user with that email already linked to another account is refused
 *   (PermanentError): Auth keeps emails unique, so two accounts for one staff email means the
 *   data is broken and someone must look.
 * - `email-verified`: noted on the linked staff user (first time wins; not published: the
 *   user topics carry no such field).
 * - `logged-in`: a sign-in row per session (the row carries the event id) and the last
 *   sign-in time (latest wins). A sign-in to the account of a **disabled** staff user is
 *   refused (PermanentError, dead letter): Auth should have refused it, so the session must be
 *   revoked by hand; the dead letter and its alert are that call to action.
 */
export function accountHandlers(producer: Producer): AnySubscription[] {
  return [
    on(accountRegistered, async ({ event, tx }) => {
      const account = event.data;
      const remembered = await tx.query(
        'INSERT INTO "user".accounts (account_id, email, registered_at, event_id) VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO NOTHING',
        [account.id, account.email, account.registeredAt, event.id],
      );
      if (remembered.rowCount === 0) return 'stale';
      const user = await userOfEmail(tx, account.email);
      if (!user || user.accountId === account.id) return 'applied';
      if (user.accountId !== null) {
        throw new PermanentError(`staff user ${user.id} is linked to account ${user.accountId}; account ${account.id} registered with the same email `
          + '(Auth keeps emails unique): not linked, the two accounts need a look');
      }
      if (user.status !== 'invited') return 'applied'; // an invitation revoked before the registration stays revoked
      const publish: Publish = (topic, data) => producer.publishWithin(tx, topic, data, { causationId: event.id });
      await activate(tx, publish, user.id, account.id);
      return 'applied';
    }),

    on(accountEmailVerified, async ({ event, tx }) => {
      const user = await userOfAccount(tx, event.data.id);
      if (!user) return 'applied'; // a shopper's account
      if (user.emailVerifiedAt !== null) return 'stale';
      await tx.query('UPDATE "user".users SET email_verified_at = $2 WHERE id = $1', [user.id, event.data.verifiedAt]);
      return 'applied';
    }),

    on(accountLoggedIn, async ({ event, tx }) => {
      const login = event.data;
      const user = await userOfAccount(tx, login.id);
      if (!user) return 'applied'; // a shopper signed in
      if (user.status === 'disabled') {
        throw new PermanentError(`staff user ${user.id} is disabled but signed in (account ${login.id}, session ${login.sessionId}): revoke the session in Auth`);
      }
      await tx.query(
        'INSERT INTO "user".sign_ins (user_id, account_id, session_id, signed_in_at, event_id) VALUES ($1, $2, $3, $4, $5)',
        [user.id, login.id, login.sessionId, login.loggedInAt, event.id],
      );
      await tx.query(
        'UPDATE "user".users SET last_signed_in_at = greatest(last_signed_in_at, $2::timestamptz) WHERE id = $1',
        [user.id, login.loggedInAt],
      );
      return 'applied';
    }),
  ];
}
