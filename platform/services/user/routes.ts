import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer, ProducerTransaction } from 'datasync/runtime';
import type { Role } from '../../contracts/user.js';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, emailField, enumField, textField, uuidField } from '../../http/fields.js';
import { EmailTakenError, inviteUser, readUser, StatusTransitionError, updateUser, type NewUser, type Publish, type UserChanges } from './users.js';

/**
 * User's HTTP routes (staff users of the back office). Each write is one producer transaction.
 *
 *   POST /users      {"email", "name", "roles": ["support", …]}  → 201 user, status invited (409 EMAIL_TAKEN naming email)
 *   PUT  /users/:id  any of {"name", "roles", "status": "active"|"disabled"} → 200 user
 *        (404 unknown; 409 INVALID_STATUS naming status: only a user with an account can be active)
 *   GET  /users/:id                                               → 200 user (404 unknown)
 */

const ROLES: readonly Role[] = ['admin', 'merchandiser', 'support', 'warehouse-operator', 'finance'];
const NAME_MAX = 100;
const ROLES_MAX = 5;

function checkRoles(value: unknown): Role[] {
  if (!Array.isArray(value)) throw invalidField('roles', `expected an array of roles (${ROLES.join(', ')}), got ${JSON.stringify(value)}`);
  if (value.length === 0 || value.length > ROLES_MAX) throw invalidField('roles', `expected 1 to ${ROLES_MAX} roles, got ${value.length}`);
  const roles = value.map((role, i) => enumField(`roles[${i}]`, role, ROLES));
  if (new Set(roles).size !== roles.length) throw invalidField('roles', 'each role at most once');
  return roles;
}

/** The body of `POST /users`. */
export function parseNewUser(body: Record<string, unknown>): NewUser {
  checkFields(body, ['email', 'name', 'roles']);
  return { email: emailField('email', body.email), name: textField('name', body.name, NAME_MAX), roles: checkRoles(body.roles) };
}

/** The body of `PUT /users/:id`: at least one field. */
export function parseUserChanges(body: Record<string, unknown>): UserChanges {
  const fields = ['name', 'roles', 'status'];
  checkFields(body, fields, []);
  if (fields.every((field) => body[field] === undefined)) throw new ApiError(400, 'NOTHING_TO_CHANGE', `body: expected at least one of ${fields.join(', ')}`, 'body');
  return {
    ...(body.name === undefined ? {} : { name: textField('name', body.name, NAME_MAX) }),
    ...(body.roles === undefined ? {} : { roles: checkRoles(body.roles) }),
    ...(body.status === undefined ? {} : { status: enumField('status', body.status, ['active', 'disabled'] as const) }),
  };
}

/** Writes events in the route's producer transaction. */
const publishIn = (tx: ProducerTransaction): Publish => (topic, data) => tx.publish(topic, data);

function notFound(id: string): ApiError {
  return new ApiError(404, 'USER_NOT_FOUND', `no staff user with id ${JSON.stringify(id)}`);
}

/** User's routes, to mount at `/users`. */
export function userRoutes(deps: { readonly producer: Producer; readonly db: SqlExecutor }): Hono {
  const routes = new Hono();

  routes.post('/', async (c) => {
    const input = parseNewUser(await readJsonObject(c));
    const user = await deps.producer.transaction((tx) => inviteUser(tx, publishIn(tx), input)).catch((error: unknown) => {
      if (error instanceof EmailTakenError) throw new ApiError(409, 'EMAIL_TAKEN', `email: a staff user with ${JSON.stringify(input.email)} exists`, 'email');
      throw error;
    });
    return c.json(user, 201);
  });

  routes.put('/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const changes = parseUserChanges(await readJsonObject(c));
    const user = await deps.producer.transaction((tx) => updateUser(tx, publishIn(tx), id, changes)).catch((error: unknown) => {
      if (error instanceof StatusTransitionError) throw new ApiError(409, 'INVALID_STATUS', `status: ${error.message}`, 'status');
      throw error;
    });
    if (!user) throw notFound(id);
    return c.json(user, 200);
  });

  routes.get('/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const user = await readUser(deps.db, id);
    if (!user) throw notFound(id);
    return c.json(user, 200);
  });

  return routes;
}
