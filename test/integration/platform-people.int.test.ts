import { randomUUID } from 'node:crypto';
import type { CloudEvent } from 'datasync';
import type { Topic } from 'datasync/core';
import { afterAll, expect, it } from 'vitest';
import { accountLoggedIn, accountRegistered, type AccountRegistered } from '../../platform/contracts/auth.js';
import { productCreated, productDeleted, productUpdated, type Product } from '../../platform/contracts/catalog.js';
import { checkoutAbandoned } from '../../platform/contracts/checkout.js';
import { tierChanged } from '../../platform/contracts/loyalty.js';
import { userUpdated } from '../../platform/contracts/user.js';
import { systemErrorReported, type SystemErrorReported } from '../../platform/contracts/notification.js';
import { orderPlaced, orderStatusChanged, type OrderPlaced, type OrderStatus } from '../../platform/contracts/order.js';
import { shipmentStatusChanged, type ShipmentStatus } from '../../platform/contracts/shipping.js';
import { runAudit } from '../../platform/audit/audit.js';
import { probeEnvelope, publishProbe } from '../../platform/audit/publish.js';
import { analyticsModule } from '../../platform/services/analytics/index.js';
import { authModule } from '../../platform/services/auth/index.js';
import { catalogModule } from '../../platform/services/catalog/index.js';
import { customerModule } from '../../platform/services/customer/index.js';
import { loyaltyModule } from '../../platform/services/loyalty/index.js';
import { notificationModule } from '../../platform/services/notification/index.js';
import { reviewModule } from '../../platform/services/review/index.js';
import { userModule } from '../../platform/services/user/index.js';
import { useInProcessPlatform, type InProcessPlatform } from '../support/platform-harness.js';
import type { ApiReply } from '../support/platform-process.js';
import { describeWithServers, POSTGRES_URL, waitFor } from '../support/servers.js';

// The people-side services of the platform (Auth, User, Customer, Notification, Review,
// Loyalty) in this process over the postgres transport, each platform on a database of its
// own (test/support/platform-harness.ts). Events of services outside them (Order, Checkout,
// Shipping, Catalog, Loyalty's own tier changes in the first block) are published here as
// their owners would (platform/audit/publish.ts); the audit rows are run by the real
// `datasync audit` code (platform/audit/audit.ts) against these in-process services.

interface ErrorBody { error: { code: string; message: string; field?: string } }
interface AccountBody { id: string; email: string; registeredAt: string; sessions: { revokedAt: string | null; revokedReason: string | null }[] }
interface SessionBody { sessionId: string; loggedInAt: string }
interface UserBody { id: string; status: string; accountId: string | null; emailVerifiedAt: string | null; lastSignedInAt: string | null; version: number }
interface CustomerBody {
  id: string; email: string; emailVerified: boolean; emailBouncing: boolean; lastLoggedInAt?: string; firstName?: string; phone?: string;
  tier: string | null; segment: string; version: number;
}
interface ReviewBody { id: string }
interface LoyaltyBody { accountId: string; ledger: { delta: number; sourceEventId: string | null }[] }
interface MessageBody { id: string; status: string; error?: string; recipient: string }
interface AlertBody { id: string; pagedMessageId: string | null }
/** An event's data as read back from an outbox. */
type EventData = Record<string, unknown>;

/** Helpers over one in-process platform. */
function helpers(platform: InProcessPlatform) {
  const call = <T = unknown>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiReply<T & Partial<ErrorBody>>> =>
    platform.call<T & Partial<ErrorBody>>(method, path, body, raw);
  const db = () => platform.db();

  async function publish<T>(topic: Topic<T>, data: T): Promise<CloudEvent<T>> {
    const event = probeEnvelope(topic, data);
    await publishProbe(platform.transport().publisher, topic as Topic<unknown>, event);
    return event;
  }
  async function again(topic: Topic<unknown>, event: CloudEvent): Promise<void> {
    await publishProbe(platform.transport().publisher, topic, event);
  }
  async function processed(service: string, eventId: string): Promise<void> {
    await waitFor(`${service} to process ${eventId}`, async () => {
      const { rows } = await db().query(`SELECT 1 FROM "${service}".processed_events WHERE event_id = $1`, [eventId]);
      if (rows.length > 0) return true;
      const { rows: letters } = await db().query<{ error_message: string }>(`SELECT error_message FROM "${service}".dead_letters WHERE event_id = $1`, [eventId]);
      if (letters[0]) throw new Error(`${service} dead-lettered ${eventId}: ${letters[0].error_message}`);
      return false;
    });
  }
  async function deadLetter(service: string, eventId: string): Promise<{ reason: string; attempts: number; error_message: string }> {
    let letter: { reason: string; attempts: number; error_message: string } | undefined;
    await waitFor(`a dead letter of ${eventId} in ${service}`, async () => {
      const { rows } = await db().query<{ reason: string; attempts: number; error_message: string }>(
        `SELECT reason, attempts, error_message FROM "${service}".dead_letters WHERE event_id = $1`,
        [eventId],
      );
      letter = rows[0];
      return letter !== undefined;
    });
    return letter!;
  }
  /** The data of `topic`'s events in `service`'s outbox whose data field `field` is `value`, oldest first. */
  async function outbox(service: string, topic: string, field: string, value: string): Promise<EventData[]> {
    const { rows } = await db().query<{ data: EventData }>(
      `SELECT envelope->'data' AS data FROM "${service}".outbox WHERE topic = $1 AND envelope->'data'->>$2 = $3 ORDER BY id`,
      [topic, field, value],
    );
    return rows.map((row) => row.data);
  }
  async function expectField(reply: ApiReply<Partial<ErrorBody>>, status: number, field: string | undefined, what: string): Promise<void> {
    expect({ what, status: reply.status, field: reply.body?.error?.field }).toEqual({ what, status, field });
    expect(typeof reply.body.error?.message).toBe('string');
  }
  /** Runs `datasync audit` for `services` against this platform and returns `service column: status evidence` lines. */
  async function audit(services: string[]): Promise<string[]> {
    const { rows: [row] } = await db().query<{ name: string }>('SELECT current_database() AS name');
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${row!.name}`;
    const report = await runAudit({ db: db(), databaseUrl: url.toString(), services, timeoutMs: 30_000 });
    return report.rows.flatMap((r) => Object.entries(r.cells).map(([column, cell]) => `${r.service} ${column}: ${cell.status} ${cell.evidence}`));
  }
  return { call, db, publish, again, processed, deadLetter, outbox, expectField, audit };
}

/**
 * Gives a duplicate delivery time to arrive. A duplicate commits nothing (the consumer skips
 * it), so there is nothing to wait for; as `datasync audit` does, the test waits a moment and
 * then checks that the effect is still there once.
 */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1_000));

const email = (tag: string): string => `${tag}-${randomUUID()}@example.com`;
const now = (): string => new Date().toISOString();

function placedOrder(input: { customerId?: string; productIds?: string[]; total?: string; subtotal?: string }): OrderPlaced {
  const productIds = input.productIds ?? [randomUUID()];
  const subtotal = input.subtotal ?? input.total ?? '10.00';
  return {
    id: randomUUID(), customerId: input.customerId ?? randomUUID(), email: 'shopper@example.com', status: 'pending', currency: 'EUR',
    lines: productIds.map((productId) => ({ productId, sku: 'SKU-1', quantity: 1, unitPrice: '1.00' })),
    subtotal, discountTotal: '0', shippingTotal: '0', taxTotal: '0', total: input.total ?? subtotal,
    shippingAddress: { line1: '1 Main Street', city: 'Berlin', postalCode: '10115', country: 'DE', recipientName: 'Ada Lovelace' },
    checkoutId: randomUUID(), version: 1, placedAt: now(),
  };
}

function statusChange(id: string, status: OrderStatus, previousStatus: OrderStatus, version: number) {
  return { id, status, previousStatus, version, changedAt: now() };
}

describeWithServers(['postgres'], 'Auth, User and Customer in one process: registration, profiles, staff activation, sessions', () => {
  // Analytics subscribes to customer events, so Customer's producer probe can see one consumed
  const platform = useInProcessPlatform('people_accounts', () => [authModule, userModule, customerModule, notificationModule, analyticsModule]);
  const { call, db, publish, again, processed, deadLetter, outbox, expectField, audit } = helpers(platform);
  afterAll(() => {
    // bad input is a 4xx, never a 500 (the host reports each 500 as an `HTTP …` error)
    expect(platform.errors.filter((error) => error.startsWith('HTTP '))).toEqual([]);
  });

  it('registers an account with a scrypt hash (never the password), verifies its email once and refuses a second account for the email', async () => {
    const address = email('ada');
    const created = await call<AccountBody>('POST', '/auth/accounts', { email: address, method: 'password', password: 'correct horse' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(String) as unknown, email: address, method: 'password', emailVerified: false, version: 1, registeredAt: expect.any(String) as unknown });
    const { rows: [stored] } = await db().query<{ password_hash: string }>('SELECT password_hash FROM auth.accounts WHERE id = $1', [created.body.id]);
    expect(stored!.password_hash).toMatch(/^scrypt\$16384\$8\$1\$[\w-]+\$[\w-]+$/);
    expect(stored!.password_hash).not.toContain('correct horse');
    const [registered] = await outbox('auth', accountRegistered.name, 'id', created.body.id);
    expect(registered).toEqual({ id: created.body.id, email: address, method: 'password', version: 1, registeredAt: created.body.registeredAt });

    const taken = await call<AccountBody>('POST', '/auth/accounts', { email: address.toUpperCase(), method: 'google' });
    await expectField(taken, 409, 'email', 'same email, other case');
    expect(taken.body.error?.code).toBe('EMAIL_TAKEN');

    const verified = await call<AccountBody & { emailVerified: boolean; version: number }>('POST', `/auth/accounts/${created.body.id}/verify-email`);
    expect(verified.body).toMatchObject({ emailVerified: true, version: 2 });
    const repeated = await call<AccountBody & { emailVerified: boolean; version: number }>('POST', `/auth/accounts/${created.body.id}/verify-email`);
    expect(repeated.body).toMatchObject({ emailVerified: true, version: 2 });
    expect(await outbox('auth', 'auth.account.email-verified', 'id', created.body.id)).toHaveLength(1);
    expect((await call<AccountBody & { emailVerified: boolean; version: number }>('POST', `/auth/accounts/${randomUUID()}/verify-email`)).status).toBe(404);
    await expectField(await call('POST', '/auth/accounts/not-a-uuid/verify-email'), 400, 'id', 'bad account id');
  });

  it('answers bad account and sign-in input with a 4xx naming the field, and bad credentials with one 401 that names neither', async () => {
    const cases: [string, unknown, string][] = [
      ['missing email', { method: 'password', password: 'long enough' }, 'email'],
      ['bad email', { email: 'ada@', method: 'password', password: 'long enough' }, 'email'],
      ['unknown method', { email: email('x'), method: 'carrier-pigeon' }, 'method'],
      ['password method without password', { email: email('x'), method: 'password' }, 'password'],
      ['short password', { email: email('x'), method: 'password', password: 'short' }, 'password'],
      ['password for a google account', { email: email('x'), method: 'google', password: 'long enough' }, 'password'],
      ['unknown field', { email: email('x'), method: 'google', nickname: 'ada' }, 'nickname'],
      ['array body', [], 'body'],
    ];
    for (const [what, body, field] of cases) await expectField(await call<AccountBody>('POST', '/auth/accounts', body), 400, field, what);

    const address = email('grace');
    const account = await call<AccountBody>('POST', '/auth/accounts', { email: address, method: 'password', password: 'navy cobol 1959' });
    const session = await call<SessionBody>('POST', '/auth/sessions', { email: address, password: 'navy cobol 1959' });
    expect(session.status).toBe(201);
    expect(session.body).toEqual({ sessionId: expect.any(String) as unknown, accountId: account.body.id, ip: '127.0.0.1', loggedInAt: expect.any(String) as unknown });
    const [loggedIn] = await outbox('auth', accountLoggedIn.name, 'sessionId', session.body.sessionId);
    expect(loggedIn).toMatchObject({ id: account.body.id, method: 'password', ip: '127.0.0.1' });

    const wrongPassword = await call<SessionBody>('POST', '/auth/sessions', { email: address, password: 'wrong password' });
    const unknownEmail = await call<SessionBody>('POST', '/auth/sessions', { email: email('nobody'), password: 'navy cobol 1959' });
    const social = email('social');
    await call<AccountBody>('POST', '/auth/accounts', { email: social, method: 'google' });
    const noPassword = await call<SessionBody>('POST', '/auth/sessions', { email: social, password: 'anything at all' });
    for (const reply of [wrongPassword, unknownEmail, noPassword]) {
      expect(reply.status).toBe(401);
      expect(reply.body.error).toEqual({ code: 'INVALID_CREDENTIALS', message: 'the email or the password is wrong' });
    }
    await expectField(await call<SessionBody>('POST', '/auth/sessions', { email: address }), 400, 'password', 'missing password');
  });

  it('creates a customer profile for a registered account, follows its verification and sign-ins, and activates the invited staff user with that email', async () => {
    const address = email('staff');
    const invited = await call<UserBody>('POST', '/users', { email: address, name: 'Katherine Johnson', roles: ['support'] });
    expect(invited.status).toBe(201);
    expect(invited.body).toMatchObject({ status: 'invited', version: 1, accountId: null });

    const account = await call<AccountBody>('POST', '/auth/accounts', { email: address, method: 'password', password: 'orbital mechanics' });
    await waitFor('the staff user activated', async () => (await call<UserBody>('GET', `/users/${invited.body.id}`)).body.status === 'active');
    const active = (await call<UserBody>('GET', `/users/${invited.body.id}`)).body;
    expect(active).toMatchObject({ status: 'active', accountId: account.body.id, version: 2 });
    expect((await outbox('user', 'user.user.updated', 'id', invited.body.id)).map((u) => u.status)).toEqual(['active']);

    let customerId = '';
    await waitFor('the customer profile', async () => {
      const { rows } = await db().query<{ id: string }>('SELECT id FROM customer.customers WHERE account_id = $1', [account.body.id]);
      customerId = rows[0]?.id ?? '';
      return customerId !== '';
    });
    const profile = (await call<CustomerBody>('GET', `/customers/${customerId}`)).body;
    expect(profile).toMatchObject({ accountId: account.body.id, email: address, emailVerified: false, segment: 'new', version: 1 });
    expect(profile.firstName).toBeUndefined();
    const [created] = await outbox('customer', 'customer.customer.created', 'id', customerId);
    expect(created).toMatchObject({ accountId: account.body.id, email: address, marketingOptIn: false });

    await call<AccountBody & { emailVerified: boolean; version: number }>('POST', `/auth/accounts/${account.body.id}/verify-email`);
    const session = await call<SessionBody>('POST', '/auth/sessions', { email: address, password: 'orbital mechanics' });
    await waitFor('verification and sign-in on the profile', async () => {
      const current = (await call<CustomerBody>('GET', `/customers/${customerId}`)).body;
      return current.emailVerified === true && current.lastLoggedInAt === session.body.loggedInAt;
    });
    await waitFor('the staff sign-in recorded', async () => (await call<UserBody>('GET', `/users/${invited.body.id}`)).body.lastSignedInAt === session.body.loggedInAt);
    const user = (await call<UserBody>('GET', `/users/${invited.body.id}`)).body;
    expect(user.emailVerifiedAt).not.toBeNull();
    const { rows: signIns } = await db().query('SELECT session_id FROM "user".sign_ins WHERE user_id = $1', [invited.body.id]);
    expect(signIns).toEqual([{ session_id: session.body.sessionId }]);
    expect((await call<CustomerBody>('GET', `/customers/${customerId}`)).body.version).toBe(3); // verified, then signed in
  });

  it('activates a staff user invited after their account registered at once, and refuses to activate one without an account', async () => {
    const address = email('early');
    const account = await call<AccountBody>('POST', '/auth/accounts', { email: address, method: 'magic-link' });
    await waitFor('User to learn the registration', async () => (await db().query('SELECT 1 FROM "user".accounts WHERE account_id = $1', [account.body.id])).rows.length > 0);
    const invited = await call<UserBody>('POST', '/users', { email: address, name: 'Margaret Hamilton', roles: ['admin', 'finance'] });
    expect(invited.body).toMatchObject({ status: 'active', accountId: account.body.id, version: 2 });

    const other = await call<UserBody>('POST', '/users', { email: email('later'), name: 'Dorothy Vaughan', roles: ['merchandiser'] });
    const refused = await call<UserBody>('PUT', `/users/${other.body.id}`, { status: 'active' });
    await expectField(refused, 409, 'status', 'invited → active by decree');
    const cases: [string, unknown, string][] = [
      ['no roles', { email: email('x'), name: 'N', roles: [] }, 'roles'],
      ['unknown role', { email: email('x'), name: 'N', roles: ['janitor'] }, 'roles[0]'],
      ['a role twice', { email: email('x'), name: 'N', roles: ['support', 'support'] }, 'roles'],
      ['empty name', { email: email('x'), name: ' ', roles: ['support'] }, 'name'],
      ['missing email', { name: 'N', roles: ['support'] }, 'email'],
    ];
    for (const [what, body, field] of cases) await expectField(await call<UserBody>('POST', '/users', body), 400, field, what);
    await expectField(await call<UserBody>('POST', '/users', { email: address.toUpperCase(), name: 'Again', roles: ['support'] }), 409, 'email', 'email taken');
    await expectField(await call<UserBody>('PUT', `/users/${other.body.id}`, {}), 400, 'body', 'nothing to change');
    await expectField(await call<UserBody>('PUT', `/users/${other.body.id}`, { status: 'invited' }), 400, 'status', 'status invited');
    expect((await call<UserBody>('PUT', `/users/${randomUUID()}`, { name: 'Nobody' })).status).toBe(404);
    await expectField(await call('GET', '/users/42'), 400, 'id', 'bad user id');
  });

  it('revokes the sessions of a staff user User disabled, refuses their sign-in, and dead-letters a sign-in User learns of afterwards', async () => {
    const address = email('leaver');
    const invited = await call<UserBody>('POST', '/users', { email: address, name: 'Leaving Soon', roles: ['support'] });
    const account = await call<AccountBody>('POST', '/auth/accounts', { email: address, method: 'password', password: 'last day here' });
    await waitFor('activation', async () => (await call<UserBody>('GET', `/users/${invited.body.id}`)).body.status === 'active');
    const first = await call<SessionBody>('POST', '/auth/sessions', { email: address, password: 'last day here' });
    const second = await call<SessionBody>('POST', '/auth/sessions', { email: address, password: 'last day here' });
    expect([first.status, second.status]).toEqual([201, 201]);

    const disabled = await call<UserBody>('PUT', `/users/${invited.body.id}`, { status: 'disabled' });
    expect(disabled.body).toMatchObject({ status: 'disabled', version: 3 });
    await waitFor('both sessions revoked', async () => (await call<AccountBody>('GET', `/auth/accounts/${account.body.id}`)).body.sessions.every((s) => s.revokedAt !== null));
    const sessions = (await call<AccountBody>('GET', `/auth/accounts/${account.body.id}`)).body.sessions;
    expect(sessions.map((s) => s.revokedReason)).toEqual(['staff-user-disabled', 'staff-user-disabled']);
    const refused = await call<SessionBody>('POST', '/auth/sessions', { email: address, password: 'last day here' });
    expect(refused.status).toBe(403);
    expect(refused.body.error?.code).toBe('ACCOUNT_DISABLED');

    const lateSignIn = await publish(accountLoggedIn, { id: account.body.id, sessionId: randomUUID(), method: 'password', ip: '10.0.0.7', loggedInAt: now() });
    const letter = await deadLetter('user', lateSignIn.id);
    expect(letter).toMatchObject({ reason: 'permanent', attempts: 1 });
    expect(letter.error_message).toContain(`staff user ${invited.body.id} is disabled but signed in`);
  });

  it('keeps Auth\'s copy of staff users by version: an older update is stale, an active user without an account is dead-lettered', async () => {
    const address = email('copy');
    const account = await call<AccountBody>('POST', '/auth/accounts', { email: address, method: 'password', password: 'versioned copy' });
    const id = randomUUID();
    const base = { id, email: address, name: 'Copy', roles: ['support' as const], updatedAt: now() };
    const newer = await publish(userUpdated, { ...base, status: 'active', version: 3 });
    await processed('auth', newer.id);
    const older = await publish(userUpdated, { ...base, status: 'disabled', version: 2 });
    await processed('auth', older.id);
    const { rows } = await db().query('SELECT status, version FROM auth.staff_users WHERE id = $1', [id]);
    expect(rows).toEqual([{ status: 'active', version: 3 }]);
    expect((await call<SessionBody>('POST', '/auth/sessions', { email: address, password: 'versioned copy' })).status).toBe(201); // the stale disable changed nothing
    expect(account.status).toBe(201);

    const orphan = await publish(userUpdated, { ...base, id: randomUUID(), email: email('orphan'), status: 'active', version: 1 });
    const letter = await deadLetter('auth', orphan.id);
    expect(letter).toMatchObject({ reason: 'permanent', attempts: 1 });
    expect(letter.error_message).toContain('no account is registered with their email');
  });

  it('creates, changes and erases profiles through the API, with the address Order needs and 4xx naming the field', async () => {
    const address = { line1: '12 Analytical Row', city: 'London', postalCode: 'N1 9GU', country: 'GB' };
    const created = await call<CustomerBody>('POST', '/customers', { email: email('shopper'), firstName: 'Ada', lastName: 'Lovelace', phone: '+441234567890', defaultAddress: address, marketingOptIn: true });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ accountId: null, firstName: 'Ada', defaultShippingAddress: address, marketingOptIn: true, segment: 'new', version: 1 });
    const [event] = await outbox('customer', 'customer.customer.created', 'id', created.body.id);
    expect(event).toMatchObject({ accountId: created.body.id, email: created.body.email, defaultShippingAddress: address, phone: '+441234567890' });

    const cases: [string, unknown, string][] = [
      ['missing firstName', { email: email('x'), lastName: 'L' }, 'firstName'],
      ['bad phone', { email: email('x'), firstName: 'F', lastName: 'L', phone: '0301234' }, 'phone'],
      ['address without line1', { email: email('x'), firstName: 'F', lastName: 'L', defaultShippingAddress: { city: 'C', postalCode: '12345', country: 'DE' } }, 'defaultShippingAddress.line1'],
      ['lower-case country', { email: email('x'), firstName: 'F', lastName: 'L', defaultShippingAddress: { ...address, country: 'gb' } }, 'defaultShippingAddress.country'],
      ['unknown address field', { email: email('x'), firstName: 'F', lastName: 'L', defaultShippingAddress: { ...address, planet: 'Earth' } }, 'defaultShippingAddress.planet'],
      ['both address names', { email: email('x'), firstName: 'F', lastName: 'L', defaultAddress: address, defaultShippingAddress: address }, 'defaultAddress'],
      ['bad accountId', { email: email('x'), firstName: 'F', lastName: 'L', accountId: 'acct-1' }, 'accountId'],
      ['marketingOptIn as text', { email: email('x'), firstName: 'F', lastName: 'L', marketingOptIn: 'yes' }, 'marketingOptIn'],
    ];
    for (const [what, body, field] of cases) await expectField(await call<CustomerBody>('POST', '/customers', body), 400, field, what);
    await expectField(await call<CustomerBody>('POST', '/customers', { email: created.body.email.toUpperCase(), firstName: 'A', lastName: 'B' }), 409, 'email', 'email taken');

    const changed = await call<CustomerBody>('PUT', `/customers/${created.body.id}`, { lastName: 'King', phone: null });
    expect(changed.body).toMatchObject({ lastName: 'King', version: 2 });
    expect(changed.body.phone).toBeUndefined();
    await expectField(await call<CustomerBody>('PUT', `/customers/${created.body.id}`, {}), 400, 'body', 'nothing to change');
    expect((await call<CustomerBody>('PUT', `/customers/${randomUUID()}`, { lastName: 'X' })).status).toBe(404);

    expect((await call('DELETE', `/customers/${created.body.id}`)).status).toBe(204);
    const { rows: [erased] } = await db().query<EventData>('SELECT email, first_name, last_name, phone, default_shipping_address, deleted_at IS NOT NULL AS erased, version FROM customer.customers WHERE id = $1', [created.body.id]);
    expect(erased).toEqual({ email: null, first_name: null, last_name: null, phone: null, default_shipping_address: null, erased: true, version: 3 });
    const [deleted] = await outbox('customer', 'customer.customer.deleted', 'id', created.body.id);
    expect(deleted).toEqual({ id: created.body.id, version: 3, deletedAt: expect.any(String) as unknown });
    for (const [method, body] of [['GET'], ['PUT', { lastName: 'X' }], ['DELETE']] as const) {
      expect((await call(method, `/customers/${created.body.id}`, body)).status).toBe(410);
    }
    const reused = await call<CustomerBody>('POST', '/customers', { email: created.body.email, firstName: 'Ada', lastName: 'Again' });
    expect(reused.status).toBe(201); // the erased profile keeps no email
  });

  it('links a profile made through the API to the account that registers with its email, once, even when the registration arrives twice', async () => {
    const address = email('phone-order');
    const created = await call<CustomerBody>('POST', '/customers', { email: address, firstName: 'Grace', lastName: 'Hopper' });
    const account: AccountRegistered = { id: randomUUID(), email: address, method: 'password', version: 1, registeredAt: now() };
    const event = await publish(accountRegistered, account);
    await processed('customer', event.id);
    await again(accountRegistered as Topic<unknown>, event);
    const fresh = await publish(accountRegistered, { ...account, id: randomUUID(), email: email('fresh') });
    await processed('customer', fresh.id);
    await settle();
    const { rows } = await db().query('SELECT id, version FROM customer.customers WHERE account_id = $1', [account.id]);
    expect(rows).toEqual([{ id: created.body.id, version: 2 }]);
    const updates = await outbox('customer', 'customer.customer.updated', 'id', created.body.id);
    expect(updates.map((u) => u.accountId)).toEqual([account.id]);

    await expectField(await call<CustomerBody>('PUT', `/customers/${created.body.id}`, { email: email('new') }), 409, 'email', 'email owned by Auth');
    const conflicting = await publish(accountRegistered, { ...account, id: randomUUID() });
    const letter = await deadLetter('customer', conflicting.id);
    expect(letter).toMatchObject({ reason: 'permanent', attempts: 1 });
    expect(letter.error_message).toContain(`customer ${created.body.id} is linked to account ${account.id}`);
  });

  it('follows Loyalty\'s tier by version into the segment, marks a hard-bounced email, and holds then dead-letters events about unknown customers', async () => {
    const customer = (await call<CustomerBody>('POST', '/customers', { email: `bouncy-${randomUUID()}@bounce.invalid`, firstName: 'B', lastName: 'Ounce' })).body;
    const accountId = randomUUID();
    const gold = await publish(tierChanged, { accountId, customerId: customer.id, tier: 'gold', previousTier: 'silver', version: 5, changedAt: now() });
    await processed('customer', gold.id);
    const late = await publish(tierChanged, { accountId, customerId: customer.id, tier: 'silver', previousTier: 'bronze', version: 4, changedAt: now() });
    await processed('customer', late.id);
    const profile = (await call<CustomerBody>('GET', `/customers/${customer.id}`)).body;
    expect(profile).toMatchObject({ tier: 'gold', segment: 'vip', version: 2 });

    const sent = await call<MessageBody>('POST', '/notifications/messages', { channel: 'email', recipient: customer.email, template: 'newsletter' });
    expect(sent.body).toMatchObject({ status: 'failed', error: expect.stringMatching(/^hard-bounce/) as unknown });
    await waitFor('the bounce on the profile', async () => (await call<CustomerBody>('GET', `/customers/${customer.id}`)).body.emailBouncing === true);
    const { rows: bounces } = await db().query('SELECT message_id FROM customer.bounces WHERE customer_id = $1', [customer.id]);
    expect(bounces).toEqual([{ message_id: sent.body.id }]);

    const unknown = await publish(tierChanged, { accountId: randomUUID(), customerId: randomUUID(), tier: 'silver', previousTier: 'bronze', version: 1, changedAt: now() });
    const letter = await deadLetter('customer', unknown.id);
    expect(letter).toMatchObject({ reason: 'retries_exhausted', attempts: 4 });
    expect(letter.error_message).toMatch(/customer .* is unknown to Customer: held/);
    const loginOfNobody = await publish(accountLoggedIn, { id: randomUUID(), sessionId: randomUUID(), method: 'google', ip: '::1', loggedInAt: now() });
    expect((await deadLetter('customer', loginOfNobody.id)).reason).toBe('retries_exhausted');
  });

  it('passes datasync audit for Auth, User and Customer', async () => {
    const lines = await audit(['auth', 'user', 'customer']);
    expect(lines.filter((line) => !/: (pass|na) /.test(line))).toEqual([]);
    expect(lines.filter((line) => / (producer|consumer|idempotency|schema|dlq): pass /.test(line))).toHaveLength(15);
  });
});

describeWithServers(['postgres'], 'Review, Loyalty and Notification in one process: reviews, points, messages and alerts', () => {
  const platform = useInProcessPlatform('people_commerce', () => [catalogModule, customerModule, notificationModule, reviewModule, loyaltyModule]);
  const { call, db, publish, again, processed, deadLetter, outbox, expectField, audit } = helpers(platform);
  afterAll(() => {
    // bad input is a 4xx, never a 500 (the host reports each 500 as an `HTTP …` error)
    expect(platform.errors.filter((error) => error.startsWith('HTTP '))).toEqual([]);
  });

  function product(overrides: Partial<Product> = {}): Product {
    return { id: randomUUID(), sku: 'REV-1', name: 'Kettle', category: 'kitchen', status: 'active', version: 1, updatedAt: now(), ...overrides };
  }

  it('takes reviews only for products in its copy, marks verified purchases, and moderates once per decision', async () => {
    const kettle = product();
    const customerId = randomUUID();
    const review = { productId: kettle.id, customerId, authorName: 'Ada', rating: 5, title: 'Boils fast', body: 'Water in 90 seconds.' };
    const unknown = await call<ReviewBody>('POST', '/reviews', review);
    await expectField(unknown, 422, 'productId', 'product not in the copy');
    expect(unknown.body.error?.code).toBe('PRODUCT_UNKNOWN');

    await processed('review', (await publish(productCreated, kettle)).id);
    const order = await publish(orderPlaced, placedOrder({ customerId, productIds: [kettle.id, kettle.id] }));
    await processed('review', order.id);
    const submitted = await call<ReviewBody>('POST', '/reviews', review);
    expect(submitted.status).toBe(201);
    expect(submitted.body).toMatchObject({ status: 'pending', verifiedPurchase: true, version: 1, title: 'Boils fast' });
    const stranger = await call<ReviewBody>('POST', '/reviews', { ...review, customerId: randomUUID(), rating: 2 });
    expect(stranger.body).toMatchObject({ verifiedPurchase: false });
    await expectField(await call<ReviewBody>('POST', '/reviews', review), 409, 'productId', 'second review of the customer');
    const { rows: purchases } = await db().query('SELECT product_id FROM review.purchases WHERE order_id = $1', [order.data.id]);
    expect(purchases).toHaveLength(1); // one row per product of the order

    const approved = await call<ReviewBody>('POST', `/reviews/${submitted.body.id}/moderate`, { status: 'approved' });
    expect(approved.body).toMatchObject({ status: 'approved', version: 2 });
    await expectField(await call<ReviewBody>('POST', `/reviews/${submitted.body.id}/moderate`, { status: 'approved' }), 409, 'status', 'same status');
    await expectField(await call<ReviewBody>('POST', `/reviews/${submitted.body.id}/moderate`, { status: 'pending' }), 400, 'status', 'pending is no decision');
    expect((await call<ReviewBody>('POST', `/reviews/${randomUUID()}/moderate`, { status: 'rejected' })).status).toBe(404);
    expect((await outbox('review', 'review.review.moderated', 'id', submitted.body.id)).map((r) => r.status)).toEqual(['approved']);
    expect((await outbox('review', 'review.review.submitted', 'id', submitted.body.id))).toHaveLength(1);
    const page = (await call<EventData>('GET', `/reviews/products/${kettle.id}`)).body;
    expect(page).toMatchObject({ name: 'Kettle', deleted: false, approvedCount: 1, averageRating: 5 });

    const cases: [string, unknown, string][] = [
      ['rating 6', { ...review, rating: 6 }, 'rating'],
      ['rating 4.5', { ...review, rating: 4.5 }, 'rating'],
      ['missing body', { ...review, body: undefined }, 'body'],
      ['bad productId', { ...review, productId: 'KET-1' }, 'productId'],
      ['unknown field', { ...review, stars: 5 }, 'stars'],
    ];
    for (const [what, body, field] of cases) await expectField(await call<ReviewBody>('POST', '/reviews', body), 400, field, what);
  });

  it('keeps its product copy by version, refuses reviews of deleted products, and holds then dead-letters an order of an unknown product', async () => {
    const item = product({ name: 'Toaster v3', version: 3 });
    await processed('review', (await publish(productUpdated, item)).id);
    const older = await publish(productUpdated, { ...item, name: 'Toaster v2', version: 2 });
    await processed('review', older.id);
    expect((await call<EventData>('GET', `/reviews/products/${item.id}`)).body).toMatchObject({ name: 'Toaster v3', productVersion: 3 });
    await processed('review', (await publish(productDeleted, { id: item.id, version: 4, deletedAt: now() })).id);
    const refused = await call<ReviewBody>('POST', '/reviews', { productId: item.id, customerId: randomUUID(), authorName: 'A', rating: 3, body: 'Gone.' });
    await expectField(refused, 422, 'productId', 'deleted product');
    expect(refused.body.error?.code).toBe('PRODUCT_DELETED');

    const missing = randomUUID();
    const order = await publish(orderPlaced, placedOrder({ productIds: [missing] }));
    const letter = await deadLetter('review', order.id);
    expect(letter).toMatchObject({ reason: 'retries_exhausted', attempts: 4 });
    expect(letter.error_message).toContain(`product ${missing} unknown to Review's copy`);
  });

  it('awards points when an order is delivered, once however often the event comes, moves the tier into Customer, and claws back on cancellation', async () => {
    const customer = (await call<CustomerBody>('POST', '/customers', { email: email('loyal'), firstName: 'Loyal', lastName: 'Shopper' })).body;
    const order = placedOrder({ customerId: customer.id, subtotal: '1234.56', total: '1234.56' });
    await processed('loyalty', (await publish(orderPlaced, order)).id);
    await processed('loyalty', (await publish(orderStatusChanged, statusChange(order.id, 'confirmed', 'pending', 2))).id);
    const delivered = await publish(orderStatusChanged, statusChange(order.id, 'delivered', 'shipped', 4));
    await processed('loyalty', delivered.id);
    await again(orderStatusChanged as Topic<unknown>, delivered);
    const sameVersion = await publish(orderStatusChanged, statusChange(order.id, 'delivered', 'shipped', 4));
    await processed('loyalty', sameVersion.id);
    const shippedLate = await publish(orderStatusChanged, statusChange(order.id, 'shipped', 'processing', 3));
    await processed('loyalty', shippedLate.id);
    await settle();

    const { rows: orders } = await db().query('SELECT status, version, points_awarded FROM loyalty.orders WHERE order_id = $1', [order.id]);
    expect(orders).toEqual([{ status: 'delivered', version: 4, points_awarded: 1234 }]); // the late `shipped` (version 3) was stale
    const account = (await call<LoyaltyBody>('GET', `/loyalty/accounts/${customer.id}`)).body;
    expect(account).toMatchObject({ customerId: customer.id, balance: 1234, tier: 'silver', version: 1 });
    expect(account.ledger).toEqual([expect.objectContaining({ delta: 1234, reason: 'order', orderId: order.id, sourceEventId: delivered.id }) as unknown]);
    expect((await outbox('loyalty', 'loyalty.account.points-changed', 'customerId', customer.id)).map((p) => [p.delta, p.balance])).toEqual([[1234, 1234]]);
    expect((await outbox('loyalty', tierChanged.name, 'customerId', customer.id)).map((t) => [t.previousTier, t.tier])).toEqual([['bronze', 'silver']]);
    await waitFor('the tier on the customer profile', async () => (await call<CustomerBody>('GET', `/customers/${customer.id}`)).body.tier === 'silver');
    expect((await call<CustomerBody>('GET', `/customers/${customer.id}`)).body.segment).toBe('regular');

    const cancelled = await publish(orderStatusChanged, statusChange(order.id, 'cancelled', 'delivered', 5));
    await processed('loyalty', cancelled.id);
    const after = (await call<LoyaltyBody>('GET', `/loyalty/accounts/${customer.id}`)).body;
    expect(after).toMatchObject({ balance: 0, tier: 'bronze', version: 2 });
    expect(after.ledger[0]).toMatchObject({ delta: -1234, sourceEventId: cancelled.id });
    await waitFor('the tier back on the profile', async () => (await call<CustomerBody>('GET', `/customers/${customer.id}`)).body.tier === 'bronze');
  });

  it('dead-letters orders whose totals do not add up, status changes of unknown orders (after holding them) and a delivery after cancellation', async () => {
    const wrong = await publish(orderPlaced, { ...placedOrder({ subtotal: '20.00' }), total: '25.00' });
    const wrongLetter = await deadLetter('loyalty', wrong.id);
    expect(wrongLetter).toMatchObject({ reason: 'permanent', attempts: 1 });
    expect(wrongLetter.error_message).toContain('total 25.00 is not subtotal 20.00 - discountTotal 0 + shippingTotal 0 + taxTotal 0 = 20');

    const unknown = await publish(orderStatusChanged, statusChange(randomUUID(), 'delivered', 'shipped', 5));
    const heldLetter = await deadLetter('loyalty', unknown.id);
    expect(heldLetter).toMatchObject({ reason: 'retries_exhausted', attempts: 4 });
    expect(heldLetter.error_message).toContain('is unknown to Loyalty');

    const order = placedOrder({ total: '99.99' });
    await processed('loyalty', (await publish(orderPlaced, order)).id);
    await processed('loyalty', (await publish(orderStatusChanged, statusChange(order.id, 'cancelled', 'pending', 2))).id);
    const contradiction = await publish(orderStatusChanged, statusChange(order.id, 'delivered', 'shipped', 3));
    expect((await deadLetter('loyalty', contradiction.id)).error_message).toContain('was cancelled');
    expect((await call<LoyaltyBody>('GET', `/loyalty/accounts/${order.customerId}`)).status).toBe(404);
  });

  it('adjusts points through the API for known customers only, with 4xx naming the field', async () => {
    const customer = (await call<CustomerBody>('POST', '/customers', { email: email('adjust'), firstName: 'A', lastName: 'D' })).body;
    const granted = await call<LoyaltyBody>('POST', `/loyalty/accounts/${customer.id}/adjust`, { points: 2_000, reason: 'service recovery' });
    expect(granted.body).toMatchObject({ balance: 2_000, tier: 'gold', version: 1 });
    await waitFor('the vip segment', async () => (await call<CustomerBody>('GET', `/customers/${customer.id}`)).body.segment === 'vip');
    await expectField(await call<LoyaltyBody>('POST', `/loyalty/accounts/${customer.id}/adjust`, { points: -2_001, reason: 'too much' }), 409, 'points', 'below zero');
    const cases: [string, unknown, string][] = [
      ['zero', { points: 0, reason: 'r' }, 'points'],
      ['fraction', { points: 1.5, reason: 'r' }, 'points'],
      ['missing reason', { points: 5 }, 'reason'],
      ['unknown field', { points: 5, reason: 'r', expiresAt: 'never' }, 'expiresAt'],
    ];
    for (const [what, body, field] of cases) await expectField(await call<LoyaltyBody>('POST', `/loyalty/accounts/${customer.id}/adjust`, body), 400, field, what);
    await expectField(await call<LoyaltyBody>('POST', `/loyalty/accounts/${randomUUID()}/adjust`, { points: 5, reason: 'r' }), 422, 'customerId', 'unknown customer');
    await expectField(await call('GET', '/loyalty/accounts/nobody'), 400, 'customerId', 'bad customer id');
    expect((await call<LoyaltyBody>('GET', `/loyalty/accounts/${randomUUID()}`)).status).toBe(404);
  });

  it('records reported system errors, pages on-call for critical ones and dead-letters a DEAD_LETTERED report that names no event', async () => {
    const report = (severity: SystemErrorReported['severity'], withEvent = true): SystemErrorReported => ({
      id: randomUUID(), service: 'warehouse', severity, code: 'DEAD_LETTERED', message: 'stock change refused',
      ...(withEvent ? { topic: 'order.order.placed', eventId: randomUUID() } : {}), occurredAt: now(),
    });
    const critical = await publish(systemErrorReported, report('critical'));
    const warning = await publish(systemErrorReported, report('warning'));
    await processed('notification', critical.id);
    await processed('notification', warning.id);
    const { alerts } = (await call<{ alerts: AlertBody[] }>('GET', '/notifications/alerts?limit=10')).body;
    const criticalAlert = alerts.find((a) => a.id === critical.data.id);
    expect(criticalAlert).toMatchObject({ severity: 'critical', sourceEventId: critical.id, pagedMessageId: expect.any(String) as unknown });
    expect(alerts.find((a) => a.id === warning.data.id)).toMatchObject({ pagedMessageId: null });
    const { messages } = (await call<{ messages: MessageBody[] }>('GET', '/notifications/messages?limit=50')).body;
    expect(messages.find((m) => m.id === criticalAlert?.pagedMessageId)).toMatchObject({
      channel: 'email', recipient: 'on-call@ops.example.com', template: 'system-alert', status: 'sent', sourceEventId: critical.id,
    });

    const anonymous = await publish(systemErrorReported, report('error', false));
    const letter = await deadLetter('notification', anonymous.id);
    expect(letter).toMatchObject({ reason: 'permanent', attempts: 1 });
    expect(letter.error_message).toContain('does not name the event');
  });

  it('reminds customers of abandoned checkouts once, tells them of shipment progress by version, and sends or fails manual messages', async () => {
    const customerId = randomUUID();
    const session = { id: randomUUID(), cartId: randomUUID(), customerId, lastStep: 'payment' as const, version: 3, abandonedAt: now() };
    const abandoned = await publish(checkoutAbandoned, session);
    await processed('notification', abandoned.id);
    const repeat = await publish(checkoutAbandoned, { ...session, version: 2 });
    await processed('notification', repeat.id);
    const guest = await publish(checkoutAbandoned, { ...session, id: randomUUID(), customerId: undefined });
    await processed('notification', guest.id);
    const { rows: reminders } = await db().query<EventData>("SELECT recipient, customer_id, status, source_event_id FROM notification.messages WHERE template = 'checkout-reminder' AND params->>'cartId' = $1", [session.cartId]);
    expect(reminders).toEqual([{ recipient: `customer:${customerId}`, customer_id: customerId, status: 'sent', source_event_id: abandoned.id }]);
    const sentEvents = await outbox('notification', 'notification.message.sent', 'customerId', customerId);
    expect(sentEvents).toEqual([expect.objectContaining({ template: 'checkout-reminder', providerReference: expect.stringMatching(/^sim-\d+$/) as unknown }) as unknown]);

    const shipment = { id: randomUUID(), orderId: randomUUID(), trackingNumber: 'TRACK123456' };
    const move = (status: ShipmentStatus, previousStatus: ShipmentStatus, version: number) => publish(shipmentStatusChanged, { ...shipment, status, previousStatus, version, changedAt: now() });
    await processed('notification', (await move('in-transit', 'label-created', 2)).id);
    await processed('notification', (await move('label-created', 'label-created', 1)).id);
    await processed('notification', (await move('delivered', 'out-for-delivery', 4)).id);
    const { rows: updates } = await db().query<EventData>('SELECT template, recipient FROM notification.messages WHERE recipient = $1 ORDER BY created_at', [`order:${shipment.orderId}`]);
    expect(updates).toEqual([{ template: 'shipment-in-transit', recipient: `order:${shipment.orderId}` }, { template: 'shipment-delivered', recipient: `order:${shipment.orderId}` }]);

    const sent = await call<MessageBody>('POST', '/notifications/messages', { channel: 'sms', recipient: '+4915112345678', template: 'order-confirmation', params: { orderId: 'A-1' } });
    expect(sent.body).toMatchObject({ status: 'sent', providerReference: expect.stringMatching(/^sim-/) as unknown, sourceEventId: null });
    const failed = await call<MessageBody>('POST', '/notifications/messages', { channel: 'email', recipient: 'nobody@bounce.invalid', template: 'order-confirmation' });
    expect(failed.body).toMatchObject({ status: 'failed' });
    expect(await outbox('notification', 'notification.message.failed', 'id', failed.body.id)).toEqual([expect.objectContaining({ error: failed.body.error }) as unknown]);
    const listed = (await call<{ messages: MessageBody[] }>('GET', '/notifications/messages?limit=2')).body.messages;
    expect(listed.map((m) => m.id)).toEqual([failed.body.id, sent.body.id]);

    const cases: [string, unknown, string][] = [
      ['unknown channel', { channel: 'fax', recipient: 'x', template: 'abc' }, 'channel'],
      ['bad email', { channel: 'email', recipient: 'not-an-email', template: 'abc' }, 'recipient'],
      ['bad phone', { channel: 'sms', recipient: '0151', template: 'abc' }, 'recipient'],
      ['bad template', { channel: 'push', recipient: 'device-token', template: 'Order Confirmation' }, 'template'],
      ['params not an object', { channel: 'push', recipient: 'device-token', template: 'abc', params: [1] }, 'params'],
    ];
    for (const [what, body, field] of cases) await expectField(await call<MessageBody>('POST', '/notifications/messages', body), 400, field, what);
    await expectField(await call('GET', '/notifications/messages?limit=0'), 400, 'limit', 'limit 0');
    await expectField(await call('GET', '/notifications/messages?limit=ten'), 400, 'limit', 'limit ten');
  });

  it('passes datasync audit for Review, Loyalty and Notification', async () => {
    const lines = await audit(['review', 'loyalty', 'notification']);
    expect(lines.filter((line) => !/: (pass|na) /.test(line))).toEqual([]);
    expect(lines.filter((line) => / (producer|consumer|idempotency|schema|dlq): pass /.test(line))).toHaveLength(15);
  });
});
