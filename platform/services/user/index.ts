/**
 * User: owns back-office (staff) users and their roles. Invites users through its API,
 * activates an invited user when an account registers in Auth with their email, and records
 * staff sign-ins; every change of a user is published through its outbox (from a consumer
 * too, in the consumer's own transaction: `producer.publishWithin`).
 *
 * Owns:      "user".users, "user".sign_ins (users.ts; the schema is quoted: `user` is reserved)
 * Publishes: user.user.created / updated (platform/contracts/user.ts)
 * Keeps a copy of: auth.account.registered (email → account, "user".accounts), email-verified and
 *                  logged-in for staff accounts (accounts.ts); shoppers' sign-ins are ignored
 * Conflict rule: registrations are inserted once (a repeat is `stale`); the first verification
 *                wins; the last sign-in time is the latest seen (greatest), whatever the order.
 */
import { userTopics } from '../../contracts/user.js';
import type { PlatformModule } from '../../host/module.js';
import { accountHandlers } from './accounts.js';
import { userAudit } from './audit.js';
import { userRoutes } from './routes.js';
import { userTables } from './users.js';
import { systemErrorReported } from '../../contracts/notification.js';

export const userModule: PlatformModule = {
  name: 'user',
  summary: 'Staff users and roles; activated when their account registers in Auth',
  migrations: [userTables],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...userTopics, systemErrorReported],
  mount: '/users',
  build(ctx) {
    return {
      handlers: accountHandlers(ctx.producer),
      routes: userRoutes({ producer: ctx.producer, db: ctx.pool }),
    };
  },
  audit: userAudit,
};
