import { randomUUID } from 'node:crypto';
import type { AuditApi, ModuleAudit } from '../../host/module.js';
import { accountRegistered, type AccountRegistered } from '../../contracts/auth.js';
import { customerCreated } from '../../contracts/customer.js';

/**
 * Customer's probes for `datasync audit`: a profile created through its API (Analytics and
 * Order consume `customer.customer.created`), and the profile it makes for a registered
 * account (`auth.account.registered`).
 */

async function createProfile(api: AuditApi, body: Record<string, unknown>): Promise<{ id: string }> {
  const reply = await api.request('customer', 'POST', '/customers', body);
  if (reply.status !== 201) throw new Error(`POST /customers answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body as { id: string };
}

function registration(email: string): AccountRegistered {
  return { id: randomUUID(), email, method: 'password', version: 1, registeredAt: new Date().toISOString() };
}

export const customerAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const customer = await createProfile(api, {
        email: `audit-${randomUUID()}@example.com`, firstName: 'Audit', lastName: 'Probe',
        defaultShippingAddress: { line1: '1 Probe Street', city: 'Berlin', postalCode: '10115', country: 'DE' },
      });
      return { topic: customerCreated, key: customer.id };
    },
  },
  consume: {
    topic: accountRegistered,
    /** A new account with a fresh email: a new profile linked to it. */
    async valid() {
      return registration(`audit-${randomUUID()}@example.com`);
    },
    /** An account whose email's profile is linked to another account: refused (events.ts). */
    async failing(api) {
      const email = `audit-${randomUUID()}@example.com`;
      await createProfile(api, { email, firstName: 'Audit', lastName: 'Probe', accountId: randomUUID() });
      return registration(email);
    },
    async effects(db, data: AccountRegistered) {
      const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM customer.customers WHERE account_id = $1', [data.id]);
      return row!.n;
    },
  },
};
