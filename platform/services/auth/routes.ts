import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import type { SignInMethod } from '../../contracts/auth.js';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, emailField, enumField, uuidField } from '../../http/fields.js';
import { checkCredentials, EmailTakenError, isDisabledStaff, openSession, readAccount, registerAccount, verifyEmail, type NewAccount } from './accounts.js';

/**
 * Auth's HTTP routes. Each write is one producer transaction (rows and event commit together).
 *
 *   POST /auth/accounts                   {"email", "method", "password"?}  → 201 account (409 EMAIL_TAKEN naming email)
 *   POST /auth/accounts/:id/verify-email                                    → 200 account (404 unknown; no new event if verified before)
 *   GET  /auth/accounts/:id                                                 → 200 account with its sessions (404 unknown)
 *   POST /auth/sessions                   {"email", "password"}             → 201 {sessionId, accountId, ip, loggedInAt}
 *        401 INVALID_CREDENTIALS for an unknown email, a wrong password or an account without one alike;
 *        403 ACCOUNT_DISABLED for an account whose staff user User disabled
 */

const METHODS: readonly SignInMethod[] = ['password', 'google', 'apple', 'magic-link'];
const PASSWORD_MIN = 8;
const PASSWORD_MAX = 200;

function checkPassword(value: unknown): string {
  if (typeof value !== 'string') throw invalidField('password', `expected a string, got ${JSON.stringify(typeof value)}`);
  if (value.length < PASSWORD_MIN || value.length > PASSWORD_MAX) throw invalidField('password', `expected ${PASSWORD_MIN} to ${PASSWORD_MAX} characters, got ${value.length}`);
  return value;
}

/** The body of `POST /auth/accounts`; a password is required for, and only for, method `password`. */
export function parseNewAccount(body: Record<string, unknown>): NewAccount {
  checkFields(body, ['email', 'method', 'password'], ['email', 'method']);
  const email = emailField('email', body.email);
  const method = enumField('method', body.method, METHODS);
  if (method === 'password') {
    if (body.password === undefined) throw invalidField('password', 'is required for method "password"', 'MISSING_FIELD');
    return { email, method, password: checkPassword(body.password) };
  }
  if (body.password !== undefined) throw invalidField('password', `accounts of method ${JSON.stringify(method)} sign in through their provider and have no password`);
  return { email, method };
}

/**
 * The client's IP address: the socket's peer; behind a proxy on this host (a loopback peer)
 * the first `x-forwarded-for` entry. 127.0.0.1 when there is no socket (a call made inside
 * the process through the service directory).
 */
function clientIp(c: Context): string {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    peer = undefined;
  }
  const normalise = (ip: string | undefined): string | undefined => {
    const plain = ip?.trim().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
    return plain && isIP(plain) ? plain : undefined;
  };
  const direct = normalise(peer) ?? '127.0.0.1';
  const loopback = direct === '127.0.0.1' || direct === '::1';
  return (loopback && normalise(c.req.header('x-forwarded-for')?.split(',')[0])) || direct;
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'ACCOUNT_NOT_FOUND', `no account with id ${JSON.stringify(id)}`);
}

/** Auth's routes, to mount at `/auth`. */
export function authRoutes(deps: { readonly producer: Producer; readonly db: SqlExecutor }): Hono {
  const routes = new Hono();

  routes.post('/accounts', async (c) => {
    const input = parseNewAccount(await readJsonObject(c));
    const account = await deps.producer.transaction((tx) => registerAccount(tx, input)).catch((error: unknown) => {
      if (error instanceof EmailTakenError) throw new ApiError(409, 'EMAIL_TAKEN', `email: an account with ${JSON.stringify(input.email)} is already registered`, 'email');
      throw error;
    });
    return c.json(account, 201);
  });

  routes.post('/accounts/:id/verify-email', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const account = await deps.producer.transaction((tx) => verifyEmail(tx, id));
    if (!account) throw notFound(id);
    return c.json(account, 200);
  });

  routes.get('/accounts/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const account = await readAccount(deps.db, id);
    if (!account) throw notFound(id);
    return c.json(account, 200);
  });

  routes.post('/sessions', async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['email', 'password']);
    const email = emailField('email', body.email);
    if (typeof body.password !== 'string' || body.password === '') throw invalidField('password', 'expected a non-empty string');
    const account = await checkCredentials(deps.db, email, body.password);
    if (!account) throw new ApiError(401, 'INVALID_CREDENTIALS', 'the email or the password is wrong');
    if (await isDisabledStaff(deps.db, account.email)) throw new ApiError(403, 'ACCOUNT_DISABLED', 'this account belongs to a disabled staff user');
    const ip = clientIp(c);
    const session = await deps.producer.transaction((tx) => openSession(tx, account, ip));
    return c.json(session, 201);
  });

  return routes;
}
