import { randomUUID } from 'node:crypto';
import type { Topic } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { customerCreated, customerDeleted, customerUpdated, type Customer } from '../../contracts/customer.js';
import type { Address } from '../../contracts/fields.js';
import type { Tier } from '../../contracts/loyalty.js';

/**
 * Customer's own data: shopper profiles. Every change increments the profile's version and
 * publishes its whole new state (or, on erasure, a tombstone); `publish` writes the event in
 * the caller's transaction (the route's producer transaction, or a consumer's `tx` through
 * `producer.publishWithin`), so row and event commit together.
 *
 * A profile belongs to an Auth account (`account_id`), linked when the account registers. A
 * profile created through the API before any account exists (support, a phone order) has
 * none yet; the contract requires `accountId`, so until an account with its email registers
 * the events carry the profile's own id there (see index.ts).
 */

/** Profiles; `email` is unique among profiles not erased. Loyalty's tier and the email's bounce state are kept but not published. */
export const customerTables: Migration = {
  id: 'customer_0001_customers',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.customers (
    id                        uuid PRIMARY KEY,
    account_id                uuid UNIQUE,
    email                     text CHECK (email = lower(email)),
    email_verified            boolean NOT NULL DEFAULT false,
    email_bouncing_since      timestamptz,
    first_name                text,
    last_name                 text,
    phone                     text,
    default_shipping_address  jsonb,
    marketing_opt_in          boolean NOT NULL DEFAULT false,
    segment                   text NOT NULL CHECK (segment IN ('new', 'regular', 'vip')),
    tier                      text CHECK (tier IN ('bronze', 'silver', 'gold', 'platinum')),
    tier_version              integer NOT NULL DEFAULT 0,
    last_logged_in_at         timestamptz,
    version                   integer NOT NULL CHECK (version >= 1),
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL,
    deleted_at                timestamptz,
    CHECK (deleted_at IS NOT NULL OR email IS NOT NULL)
  );
  CREATE UNIQUE INDEX IF NOT EXISTS customers_email ON {schema}.customers (email) WHERE deleted_at IS NULL;
  CREATE TABLE IF NOT EXISTS {schema}.bounces (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES {schema}.customers (id),
    message_id   uuid NOT NULL,
    error        text NOT NULL,
    bounced_at   timestamptz NOT NULL,
    event_id     text NOT NULL
  )`,
};

/** Writes an event in the caller's transaction. */
export type Publish = <T>(topic: Topic<T>, data: T) => Promise<unknown>;

/** A profile as the API returns it (`accountId` null while no account is linked). */
export interface CustomerView extends Omit<Customer, 'accountId'> {
  readonly accountId: string | null;
  readonly emailBouncing: boolean;
  readonly tier: Tier | null;
}

export interface CustomerRow {
  id: string;
  account_id: string | null;
  email: string | null;
  email_verified: boolean;
  email_bouncing_since: Date | null;
  first_name: string | null;
  last_name: string | null;
  phone: string | null;
  default_shipping_address: Address | null;
  marketing_opt_in: boolean;
  segment: Customer['segment'];
  tier: Tier | null;
  tier_version: number;
  last_logged_in_at: Date | null;
  version: number;
  updated_at: Date;
  deleted_at: Date | null;
}

const COLUMNS = `id, account_id, email, email_verified, email_bouncing_since, first_name, last_name, phone, default_shipping_address,
  marketing_opt_in, segment, tier, tier_version, last_logged_in_at, version, updated_at, deleted_at`;

/** The published state: optional fields only when set; `accountId` falls back to the profile's id (see the module comment). */
function published(row: CustomerRow): Customer {
  return {
    id: row.id,
    accountId: row.account_id ?? row.id,
    email: row.email!,
    emailVerified: row.email_verified,
    ...(row.first_name === null ? {} : { firstName: row.first_name }),
    ...(row.last_name === null ? {} : { lastName: row.last_name }),
    ...(row.phone === null ? {} : { phone: row.phone }),
    ...(row.default_shipping_address === null ? {} : { defaultShippingAddress: row.default_shipping_address }),
    marketingOptIn: row.marketing_opt_in,
    segment: row.segment,
    ...(row.last_logged_in_at === null ? {} : { lastLoggedInAt: row.last_logged_in_at.toISOString() }),
    version: row.version,
    updatedAt: row.updated_at.toISOString(),
  };
}

export function toView(row: CustomerRow): CustomerView {
  return {
    ...published(row), accountId: row.account_id, emailBouncing: row.email_bouncing_since !== null, tier: row.tier,
  };
}

/** The profile `id` (erased ones too), locked for the caller's transaction. */
export async function lockCustomer(tx: SqlExecutor, where: 'id' | 'account_id', value: string): Promise<CustomerRow | undefined> {
  const { rows: [row] } = await tx.query<CustomerRow>(`SELECT ${COLUMNS} FROM customer.customers WHERE ${where} = $1 FOR UPDATE`, [value]);
  return row;
}

/** The profile (not erased) with `email`, locked; undefined if none. */
export async function lockCustomerByEmail(tx: SqlExecutor, email: string): Promise<CustomerRow | undefined> {
  const { rows: [row] } = await tx.query<CustomerRow>(`SELECT ${COLUMNS} FROM customer.customers WHERE email = lower($1) AND deleted_at IS NULL FOR UPDATE`, [email]);
  return row;
}

/** A new profile; callers validate. */
export interface NewCustomer {
  readonly email: string;
  readonly accountId?: string;
  readonly firstName?: string;
  readonly lastName?: string;
  readonly phone?: string;
  readonly defaultShippingAddress?: Address;
  readonly marketingOptIn?: boolean;
}

/** The email (or account) belongs to another profile; nothing was written. */
export class ProfileTakenError extends Error {
  constructor(readonly field: 'email' | 'accountId', readonly value: string) {
    super(`another customer profile has the ${field} ${value}`);
    this.name = 'ProfileTakenError';
  }
}

function taken(error: unknown, input: { email?: string; accountId?: string }): unknown {
  const pg = error as { code?: string; constraint?: string };
  if (pg.code !== '23505') return error;
  if (pg.constraint === 'customers_email') return new ProfileTakenError('email', input.email ?? '');
  if (pg.constraint === 'customers_account_id_key') return new ProfileTakenError('accountId', input.accountId ?? '');
  return error;
}

/** Inserts a profile at version 1 (segment `new`) and publishes `customer.customer.created`; throws {@link ProfileTakenError}. */
export async function createCustomer(tx: SqlExecutor, publish: Publish, input: NewCustomer): Promise<CustomerView> {
  const { rows: [row] } = await tx.query<CustomerRow>(
    `INSERT INTO customer.customers (id, account_id, email, first_name, last_name, phone, default_shipping_address, marketing_opt_in, segment, version, created_at, updated_at)
     VALUES ($1, $2, lower($3), $4, $5, $6, $7, $8, 'new', 1, now(), now()) RETURNING ${COLUMNS}`,
    [randomUUID(), input.accountId ?? null, input.email, input.firstName ?? null, input.lastName ?? null, input.phone ?? null,
      input.defaultShippingAddress === undefined ? null : JSON.stringify(input.defaultShippingAddress), input.marketingOptIn ?? false],
  ).catch((error: unknown) => { throw taken(error, input); });
  await publish(customerCreated, published(row!));
  return toView(row!);
}

/** Column changes of a profile: a value sets the column, `null` clears it, absent keeps it. */
export type CustomerChanges = Partial<{
  email: string;
  account_id: string;
  email_verified: boolean;
  first_name: string | null;
  last_name: string | null;
  phone: string | null;
  default_shipping_address: Address | null;
  marketing_opt_in: boolean;
  segment: Customer['segment'];
  last_logged_in_at: string;
}>;

const CHANGEABLE = new Set<keyof CustomerChanges>([
  'email', 'account_id', 'email_verified', 'first_name', 'last_name', 'phone', 'default_shipping_address', 'marketing_opt_in', 'segment', 'last_logged_in_at',
]);

/** Applies `changes` to profile `id` (next version) and publishes `customer.customer.updated`; throws {@link ProfileTakenError}. */
export async function changeCustomer(tx: SqlExecutor, publish: Publish, id: string, changes: CustomerChanges): Promise<CustomerView> {
  const entries = Object.entries(changes).filter(([column, value]) => CHANGEABLE.has(column as keyof CustomerChanges) && value !== undefined);
  const sets = entries.map(([column], i) => `${column} = $${i + 2}`);
  const params = entries.map(([column, value]) => (column === 'default_shipping_address' && value !== null ? JSON.stringify(value) : value));
  const { rows: [row] } = await tx.query<CustomerRow>(
    `UPDATE customer.customers SET ${[...sets, 'version = version + 1', 'updated_at = now()'].join(', ')} WHERE id = $1 AND deleted_at IS NULL RETURNING ${COLUMNS}`,
    [id, ...params],
  ).catch((error: unknown) => { throw taken(error, { email: changes.email, accountId: changes.account_id }); });
  await publish(customerUpdated, published(row!));
  return toView(row!);
}

/**
 * Erases profile `id` (right to erasure): every personal field is cleared, its bounce records
 * are deleted, the row stays as a tombstone (id, account link, version) so later events about
 * its account are recognised, and `customer.customer.deleted` is published one version above.
 */
export async function eraseCustomer(tx: SqlExecutor, publish: Publish, id: string): Promise<void> {
  await tx.query('DELETE FROM customer.bounces WHERE customer_id = $1', [id]);
  const { rows: [row] } = await tx.query<{ version: number; deleted_at: Date }>(
    `UPDATE customer.customers SET email = NULL, first_name = NULL, last_name = NULL, phone = NULL, default_shipping_address = NULL,
       email_bouncing_since = NULL, last_logged_in_at = NULL, marketing_opt_in = false, version = version + 1, updated_at = now(), deleted_at = now()
     WHERE id = $1 AND deleted_at IS NULL RETURNING version, deleted_at`,
    [id],
  );
  await publish(customerDeleted, { id, version: row!.version, deletedAt: row!.deleted_at.toISOString() });
}

/** A profile (erased ones too); undefined if unknown. */
export async function readCustomer(db: SqlExecutor, id: string): Promise<CustomerRow | undefined> {
  const { rows: [row] } = await db.query<CustomerRow>(`SELECT ${COLUMNS} FROM customer.customers WHERE id = $1`, [id]);
  return row;
}
