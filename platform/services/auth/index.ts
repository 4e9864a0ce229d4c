/**
 * Auth: owns accounts' credentials and sessions. Registers accounts (password hashes only,
 * scrypt), verifies emails, opens sessions on sign-in, and publishes each of these through its
 * outbox. It keeps a copy of staff users to revoke the sessions of disabled ones.
 *
 * Owns:      auth.accounts, auth.sessions (accounts.ts)
 * Publishes: auth.account.registered / email-verified / logged-in (platform/contracts/auth.ts)
 * Keeps a copy of: user.user.updated → auth.staff_users (staff.ts), linked to accounts by email
 * Conflict rule: version-based (User versions its users); an older update is `stale`.
 */
import { on } from 'datasync/runtime';
import { authTopics } from '../../contracts/auth.js';
import { userUpdated } from '../../contracts/user.js';
import type { PlatformModule } from '../../host/module.js';
import { authTables } from './accounts.js';
import { authAudit } from './audit.js';
import { authRoutes } from './routes.js';
import { keepStaffUser } from './staff.js';
import { systemErrorReported } from '../../contracts/notification.js';

export const authModule: PlatformModule = {
  name: 'auth',
  summary: 'Accounts, password hashes and sessions; revokes the sessions of disabled staff users',
  migrations: [authTables],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...authTopics, systemErrorReported],
  mount: '/auth',
  build(ctx) {
    return {
      handlers: [on(userUpdated, keepStaffUser)],
      routes: authRoutes({ producer: ctx.producer, db: ctx.pool }),
    };
  },
  audit: authAudit,
};
