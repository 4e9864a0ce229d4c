import { randomUUID } from 'node:crypto';
import type { AuditApi, ModuleAudit } from '../../host/module.js';
import { accountLoggedIn, type AccountLoggedIn } from '../../contracts/auth.js';
import { userUpdated } from '../../contracts/user.js';
import { pollUntil } from '../../audit/poll.js';

/**
 * User's probes for `datasync audit`: a staff user changed through its API (Auth consumes
 * `user.user.updated`), and the staff sign-ins it records from `auth.account.logged-in`. The
 * sign-in probes need a staff user linked to an account, made the way the platform makes
 * one: invited through User's API, then registered through Auth's API; User activates it
 * when it consumes the registration.
 */

async function request(api: AuditApi, service: string, method: string, path: string, body: unknown, expected: number): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const reply = await api.request(service, method, path, body);
  if (reply.status !== expected) throw new Error(`${method} ${path} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** An invited staff user whose account registered through Auth; resolves once User activated it. */
async function activeStaffUser(api: AuditApi): Promise<{ id: string; accountId: string }> {
  const email = `audit-staff-${randomUUID()}@example.com`;
  const user = (await request(api, 'user', 'POST', '/users', { email, name: 'Audit Probe', roles: ['support'] }, 201)) as { id: string };
  await request(api, 'auth', 'POST', '/auth/accounts', { email, method: 'password', password: 'audit-probe-password' }, 201);
  return pollUntil(`staff user ${user.id} activated after registering ${email} in Auth`, async () => {
    const current = (await request(api, 'user', 'GET', `/users/${user.id}`, undefined, 200)) as { status: string; accountId: string | null };
    return current.status === 'active' && current.accountId ? { id: user.id, accountId: current.accountId } : undefined;
  }, 15_000);
}

function signIn(accountId: string): AccountLoggedIn {
  return { id: accountId, sessionId: randomUUID(), method: 'password', ip: '127.0.0.1', loggedInAt: new Date().toISOString() };
}

export const userAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const user = (await request(api, 'user', 'POST', '/users', { email: `audit-staff-${randomUUID()}@example.com`, name: 'Audit Probe', roles: ['support'] }, 201)) as { id: string };
      await request(api, 'user', 'PUT', `/users/${user.id}`, { roles: ['support', 'merchandiser'] }, 200);
      return { topic: userUpdated, key: user.id };
    },
  },
  consume: {
    topic: accountLoggedIn,
    async valid(api) {
      return signIn((await activeStaffUser(api)).accountId);
    },
    /** A sign-in to the account of a staff user disabled since: refused (accounts.ts). */
    async failing(api) {
      const user = await activeStaffUser(api);
      await request(api, 'user', 'PUT', `/users/${user.id}`, { status: 'disabled' }, 200);
      return signIn(user.accountId);
    },
    async effects(db, data: AccountLoggedIn) {
      const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "user".sign_ins WHERE session_id = $1', [data.sessionId]);
      return row!.n;
    },
  },
};
