import { randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import type { ProducerTransaction } from 'datasync/runtime';
import { accountEmailVerified, accountLoggedIn, accountRegistered, type SignInMethod } from '../../contracts/auth.js';

/**
 * Auth's own data: accounts (credentials), their sessions, and the changes made to them. Each
 * change writes its rows and publishes its event in the caller's transaction (the
 * transactional outbox). Passwords are kept only as scrypt hashes (node:crypto), never as sent.
 */

/** Accounts, sessions and Auth's copy of staff users (staff.ts). Emails are stored lower-cased and unique. */
export const authTables: Migration = {
  id: 'auth_0001_accounts',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.accounts (
    id                 uuid PRIMARY KEY,
    email              text NOT NULL UNIQUE CHECK (email = lower(email)),
    method             text NOT NULL CHECK (method IN ('password', 'google', 'apple', 'magic-link')),
    password_hash      text,
    email_verified_at  timestamptz,
    version            integer NOT NULL CHECK (version >= 1),
    registered_at      timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CHECK ((method = 'password') = (password_hash IS NOT NULL))
  );
  CREATE TABLE IF NOT EXISTS {schema}.sessions (
    id                uuid PRIMARY KEY,
    account_id        uuid NOT NULL REFERENCES {schema}.accounts (id),
    ip                inet NOT NULL,
    created_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    revoked_reason    text,
    revoked_by_event  text
  );
  CREATE INDEX IF NOT EXISTS sessions_open ON {schema}.sessions (account_id) WHERE revoked_at IS NULL;
  CREATE TABLE IF NOT EXISTS {schema}.staff_users (
    id          uuid PRIMARY KEY,
    email       text NOT NULL,
    roles       text[] NOT NULL,
    status      text NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    version     integer NOT NULL CHECK (version >= 1),
    event_id    text NOT NULL,
    updated_at  timestamptz NOT NULL
  );
  CREATE INDEX IF NOT EXISTS staff_users_email ON {schema}.staff_users (lower(email))`,
};

const hashScrypt = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
const SCRYPT = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const KEY_BYTES = 32;

/** `scrypt$N$r$p$salt$hash` (base64url): the parameters travel with the hash, so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await hashScrypt(password, salt, KEY_BYTES, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** True if `password` matches `stored` (a {@link hashPassword} result); compares in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await hashScrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return timingSafeEqual(key, expected);
}

/** Checked for an unknown email, so a sign-in with one takes as long as one with a wrong password. */
let dummyHash: Promise<string> | undefined;
const dummy = (): Promise<string> => (dummyHash ??= hashPassword(randomBytes(12).toString('hex')));

/** An account as the API returns it (never the hash). */
export interface Account {
  readonly id: string;
  readonly email: string;
  readonly method: SignInMethod;
  readonly emailVerified: boolean;
  readonly version: number;
  readonly registeredAt: string;
}

interface AccountRow {
  id: string;
  email: string;
  method: SignInMethod;
  password_hash: string | null;
  email_verified_at: Date | null;
  version: number;
  registered_at: Date;
}

const COLUMNS = 'id, email, method, password_hash, email_verified_at, version, registered_at';

function toAccount(row: AccountRow): Account {
  return { id: row.id, email: row.email, method: row.method, emailVerified: row.email_verified_at !== null, version: row.version, registeredAt: row.registered_at.toISOString() };
}

/** What a registration needs; callers validate (a password only, and always, for method `password`). */
export interface NewAccount {
  readonly email: string;
  readonly method: SignInMethod;
  readonly password?: string;
}

/** The email is taken by another account; nothing was written. */
export class EmailTakenError extends Error {
  constructor(readonly email: string) {
    super(`an account with the email ${email} exists`);
    this.name = 'EmailTakenError';
  }
}

/** Inserts the account at version 1 and publishes `auth.account.registered`; throws {@link EmailTakenError}. */
export async function registerAccount(tx: ProducerTransaction, input: NewAccount): Promise<Account> {
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  const { rows: [row] } = await tx.query<AccountRow>(
    `INSERT INTO auth.accounts (id, email, method, password_hash, version, registered_at, updated_at)
     VALUES ($1, $2, $3, $4, 1, now(), now()) ON CONFLICT (email) DO NOTHING RETURNING ${COLUMNS}`,
    [randomUUID(), input.email.toLowerCase(), input.method, passwordHash],
  );
  if (!row) throw new EmailTakenError(input.email);
  const account = toAccount(row);
  await tx.publish(accountRegistered, { id: account.id, email: account.email, method: account.method, version: account.version, registeredAt: account.registeredAt });
  return account;
}

/**
 * Marks the account's email verified (next version) and publishes `auth.account.email-verified`;
 * an account verified before is returned unchanged and nothing is published. `undefined` for
 * an unknown account.
 */
export async function verifyEmail(tx: ProducerTransaction, id: string): Promise<Account | undefined> {
  const { rows: [row] } = await tx.query<AccountRow>(
    `UPDATE auth.accounts SET email_verified_at = now(), version = version + 1, updated_at = now()
     WHERE id = $1 AND email_verified_at IS NULL RETURNING ${COLUMNS}`,
    [id],
  );
  if (!row) {
    const { rows: [current] } = await tx.query<AccountRow>(`SELECT ${COLUMNS} FROM auth.accounts WHERE id = $1`, [id]);
    return current ? toAccount(current) : undefined;
  }
  await tx.publish(accountEmailVerified, { id: row.id, email: row.email, version: row.version, verifiedAt: row.email_verified_at!.toISOString() });
  return toAccount(row);
}

/** The account of `email` if `password` is its password; undefined otherwise (unknown email, other sign-in method or wrong password alike). */
export async function checkCredentials(db: SqlExecutor, email: string, password: string): Promise<Account | undefined> {
  const { rows: [row] } = await db.query<AccountRow>(`SELECT ${COLUMNS} FROM auth.accounts WHERE email = $1`, [email.toLowerCase()]);
  const matches = await verifyPassword(password, row?.password_hash ?? await dummy());
  return row?.password_hash && matches ? toAccount(row) : undefined;
}

/** True if the staff user with the account's email is disabled (staff.ts keeps that copy). */
export async function isDisabledStaff(db: SqlExecutor, email: string): Promise<boolean> {
  const { rows } = await db.query("SELECT 1 FROM auth.staff_users WHERE lower(email) = $1 AND status = 'disabled'", [email.toLowerCase()]);
  return rows.length > 0;
}

/** A session as the API returns it. */
export interface Session {
  readonly sessionId: string;
  readonly accountId: string;
  readonly ip: string;
  readonly loggedInAt: string;
}

/** Opens a session for `account` and publishes `auth.account.logged-in`; callers checked the credentials. */
export async function openSession(tx: ProducerTransaction, account: Account, ip: string): Promise<Session> {
  const { rows: [row] } = await tx.query<{ id: string; created_at: Date }>(
    'INSERT INTO auth.sessions (id, account_id, ip, created_at) VALUES ($1, $2, $3, now()) RETURNING id, created_at',
    [randomUUID(), account.id, ip],
  );
  const loggedInAt = row!.created_at.toISOString();
  await tx.publish(accountLoggedIn, { id: account.id, sessionId: row!.id, method: account.method, ip, loggedInAt });
  return { sessionId: row!.id, accountId: account.id, ip, loggedInAt };
}

/** An account with its sessions (newest first), for `GET /auth/accounts/:id`; undefined if unknown. */
export async function readAccount(db: SqlExecutor, id: string): Promise<(Account & { sessions: unknown[] }) | undefined> {
  const { rows: [row] } = await db.query<AccountRow>(`SELECT ${COLUMNS} FROM auth.accounts WHERE id = $1`, [id]);
  if (!row) return undefined;
  const { rows: sessions } = await db.query<{ id: string; ip: string; created_at: Date; revoked_at: Date | null; revoked_reason: string | null }>(
    'SELECT id, host(ip) AS ip, created_at, revoked_at, revoked_reason FROM auth.sessions WHERE account_id = $1 ORDER BY created_at DESC LIMIT 50',
    [id],
  );
  return {
    ...toAccount(row),
    sessions: sessions.map((s) => ({
      id: s.id, ip: s.ip, createdAt: s.created_at.toISOString(), revokedAt: s.revoked_at?.toISOString() ?? null, revokedReason: s.revoked_reason,
    })),
  };
}
