import { randomUUID } from 'node:crypto';
import type { Topic } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import type { Role, StaffUser } from '../../contracts/user.js';
import { userCreated, userUpdated } from '../../contracts/user.js';

/**
 * User's own data: staff (back-office) users and their roles, plus what it learns from Auth:
 * which account registered with which email (so an invitation finds an account registered
 * before it) and each staff sign-in. Every change of a user increments its version and
 * publishes the whole new state; `publish` is the caller's transaction's (HTTP) or the
 * consumer's outbox write (`producer.publishWithin`), so the event commits with the row.
 */

/** The schema is quoted everywhere: `user` is a reserved word in PostgreSQL. */
export const userTables: Migration = {
  id: 'user_0001_users',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.users (
    id                 uuid PRIMARY KEY,
    email              text NOT NULL UNIQUE CHECK (email = lower(email)),
    name               text NOT NULL,
    roles              text[] NOT NULL,
    status             text NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    account_id         uuid UNIQUE,
    email_verified_at  timestamptz,
    last_signed_in_at  timestamptz,
    version            integer NOT NULL CHECK (version >= 1),
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CHECK (status <> 'active' OR account_id IS NOT NULL)
  );
  CREATE TABLE IF NOT EXISTS {schema}.accounts (
    account_id     uuid PRIMARY KEY,
    email          text NOT NULL,
    registered_at  timestamptz NOT NULL,
    event_id       text NOT NULL
  );
  CREATE INDEX IF NOT EXISTS accounts_email ON {schema}.accounts (lower(email));
  CREATE TABLE IF NOT EXISTS {schema}.sign_ins (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES {schema}.users (id),
    account_id    uuid NOT NULL,
    session_id    uuid NOT NULL,
    signed_in_at  timestamptz NOT NULL,
    event_id      text NOT NULL
  );
  CREATE INDEX IF NOT EXISTS sign_ins_user ON {schema}.sign_ins (user_id, signed_in_at DESC)`,
};

/** Writes an event in the caller's transaction. */
export type Publish = <T>(topic: Topic<T>, data: T) => Promise<unknown>;

/** A staff user as the API returns it. */
export interface User extends StaffUser {
  readonly accountId: string | null;
  readonly emailVerifiedAt: string | null;
  readonly lastSignedInAt: string | null;
  readonly createdAt: string;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  roles: Role[];
  status: StaffUser['status'];
  account_id: string | null;
  email_verified_at: Date | null;
  last_signed_in_at: Date | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, email, name, roles, status, account_id, email_verified_at, last_signed_in_at, version, created_at, updated_at';

function toUser(row: UserRow): User {
  return {
    id: row.id, email: row.email, name: row.name, roles: row.roles, status: row.status, accountId: row.account_id,
    emailVerifiedAt: row.email_verified_at?.toISOString() ?? null, lastSignedInAt: row.last_signed_in_at?.toISOString() ?? null,
    version: row.version, createdAt: row.created_at.toISOString(), updatedAt: row.updated_at.toISOString(),
  };
}

/** The event's data: the published fields only. */
function published(user: User): StaffUser {
  return { id: user.id, email: user.email, name: user.name, roles: user.roles, status: user.status, version: user.version, updatedAt: user.updatedAt };
}

/** The email is another staff user's; nothing was written. */
export class EmailTakenError extends Error {
  constructor(readonly email: string) {
    super(`a staff user with the email ${email} exists`);
    this.name = 'EmailTakenError';
  }
}

/** A status the user cannot move to from where it is; nothing was written. */
export class StatusTransitionError extends Error {}

/** Links an invited user to `accountId` and activates it (next version), publishing `user.user.updated`. */
export async function activate(tx: SqlExecutor, publish: Publish, userId: string, accountId: string): Promise<User> {
  const { rows: [row] } = await tx.query<UserRow>(
    `UPDATE "user".users SET status = 'active', account_id = $2, version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [userId, accountId],
  );
  const user = toUser(row!);
  await publish(userUpdated, published(user));
  return user;
}

/** What an invitation needs; callers validate. */
export interface NewUser {
  readonly email: string;
  readonly name: string;
  readonly roles: readonly Role[];
}

/**
 * Invites a staff user (status `invited`, version 1) and publishes `user.user.created`. If an
 * account already registered with the email (Auth told us), the user is activated at once
 * (version 2, `user.user.updated`). Throws {@link EmailTakenError}.
 */
export async function inviteUser(tx: SqlExecutor, publish: Publish, input: NewUser): Promise<User> {
  const { rows: [row] } = await tx.query<UserRow>(
    `INSERT INTO "user".users (id, email, name, roles, status, version, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 'invited', 1, now(), now()) ON CONFLICT (email) DO NOTHING RETURNING ${COLUMNS}`,
    [randomUUID(), input.email.toLowerCase(), input.name, input.roles],
  );
  if (!row) throw new EmailTakenError(input.email);
  const user = toUser(row);
  await publish(userCreated, published(user));
  const { rows: [account] } = await tx.query<{ account_id: string }>('SELECT account_id FROM "user".accounts WHERE lower(email) = $1 ORDER BY registered_at LIMIT 1', [user.email]);
  return account ? activate(tx, publish, user.id, account.account_id) : user;
}

/** What `PUT /users/:id` may change; callers validate. */
export interface UserChanges {
  readonly name?: string;
  readonly roles?: readonly Role[];
  readonly status?: 'active' | 'disabled';
}

/**
 * Applies `changes` (next version) and publishes `user.user.updated`; undefined for an unknown
 * user. Status moves: invited or active → disabled; disabled → active only for a user linked to
 * an account (an invited user becomes active by registering, never by decree), else
 * {@link StatusTransitionError}.
 */
export async function updateUser(tx: SqlExecutor, publish: Publish, id: string, changes: UserChanges): Promise<User | undefined> {
  const { rows: [current] } = await tx.query<UserRow>(`SELECT ${COLUMNS} FROM "user".users WHERE id = $1 FOR UPDATE`, [id]);
  if (!current) return undefined;
  if (changes.status === 'active' && current.status !== 'active' && current.account_id === null) {
    throw new StatusTransitionError(`user ${id} is ${current.status} and has no account yet: a staff user becomes active by registering an account with ${current.email}`);
  }
  const { rows: [row] } = await tx.query<UserRow>(
    `UPDATE "user".users SET name = coalesce($2, name), roles = coalesce($3, roles), status = coalesce($4, status), version = version + 1, updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, changes.name ?? null, changes.roles ?? null, changes.status ?? null],
  );
  const user = toUser(row!);
  await publish(userUpdated, published(user));
  return user;
}

/** A staff user; undefined if unknown. */
export async function readUser(db: SqlExecutor, id: string): Promise<User | undefined> {
  const { rows: [row] } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM "user".users WHERE id = $1`, [id]);
  return row ? toUser(row) : undefined;
}

/** The staff user linked to `accountId`, locked for the caller's transaction; undefined for a shopper's account. */
export async function userOfAccount(tx: SqlExecutor, accountId: string): Promise<User | undefined> {
  const { rows: [row] } = await tx.query<UserRow>(`SELECT ${COLUMNS} FROM "user".users WHERE account_id = $1 FOR UPDATE`, [accountId]);
  return row ? toUser(row) : undefined;
}

/** The staff user invited with `email` (any status), locked; undefined if none. */
export async function userOfEmail(tx: SqlExecutor, email: string): Promise<User | undefined> {
  const { rows: [row] } = await tx.query<UserRow>(`SELECT ${COLUMNS} FROM "user".users WHERE email = lower($1) FOR UPDATE`, [email]);
  return row ? toUser(row) : undefined;
}
