import { randomUUID } from 'node:crypto';
import type { AuditApi, ModuleAudit } from '../../host/module.js';
import { accountRegistered } from '../../contracts/auth.js';
import { userUpdated, type StaffUser } from '../../contracts/user.js';

/**
 * Auth's probes for `datasync audit`: a registration through its API (Customer and User
 * consume `auth.account.registered`), and its copy of staff users (`user.user.updated`).
 */

/** Registers a password account with a fresh probe email through Auth's API; returns its id and email. */
async function registerProbeAccount(api: AuditApi): Promise<{ id: string; email: string }> {
  const email = `audit-${randomUUID()}@example.com`;
  const reply = await api.request('auth', 'POST', '/auth/accounts', { email, method: 'password', password: 'audit-probe-password' });
  if (reply.status !== 201) throw new Error(`POST /auth/accounts answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return { id: (reply.body as { id: string }).id, email };
}

function staffUser(email: string, status: StaffUser['status']): StaffUser {
  return { id: randomUUID(), email, name: 'Audit Probe', roles: ['support'], status, version: 1, updatedAt: new Date().toISOString() };
}

export const authAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const account = await registerProbeAccount(api);
      return { topic: accountRegistered, key: account.id };
    },
  },
  consume: {
    topic: userUpdated,
    /** An active staff user whose email has an account (registered first through the API): copied and linked. */
    async valid(api) {
      const account = await registerProbeAccount(api);
      return staffUser(account.email, 'active');
    },
    /** An active staff user whose email no account has: refused (staff.ts). */
    async failing() {
      return staffUser(`audit-${randomUUID()}@example.com`, 'active');
    },
    async effects(db, data: StaffUser) {
      const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM auth.staff_users WHERE id = $1 AND version = $2', [data.id, data.version]);
      return row!.n;
    },
  },
};
