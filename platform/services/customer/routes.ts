import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer, ProducerTransaction } from 'datasync/runtime';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { addressField, booleanField, checkFields, emailField, textField, uuidField } from '../../http/fields.js';
import {
  changeCustomer, createCustomer, eraseCustomer, lockCustomer, ProfileTakenError, readCustomer, toView,
  type CustomerChanges, type CustomerRow, type NewCustomer, type Publish,
} from './customers.js';

/**
 * Customer's HTTP routes. Each write is one producer transaction (row and event commit together).
 *
 *   POST   /customers      {"email", "firstName", "lastName", "phone"?, "defaultShippingAddress"?, "marketingOptIn"?, "accountId"?}
 *                          → 201 profile (409 EMAIL_TAKEN / ACCOUNT_TAKEN naming the field)
 *   PUT    /customers/:id  any of firstName, lastName, phone, defaultShippingAddress (null clears the optional ones),
 *                          marketingOptIn, email (only while no account is linked: Auth owns a linked sign-in email) → 200 profile
 *   DELETE /customers/:id  → 204: personal data erased, customer.customer.deleted published
 *   GET    /customers/:id  → 200 profile
 *   404 CUSTOMER_NOT_FOUND for an unknown id, 410 CUSTOMER_ERASED for an erased one.
 *
 * `defaultAddress` is taken as another name of `defaultShippingAddress` (not both at once).
 * The address is what an order ships to: {"line1", "line2"?, "city", "region"?, "postalCode", "country"}.
 */

const NAME_MAX = 100;
const PHONE_PATTERN = /^\+[1-9]\d{6,14}$/;

function phoneField(value: unknown): string {
  if (typeof value !== 'string' || !PHONE_PATTERN.test(value)) throw invalidField('phone', `expected an E.164 phone number such as "+4930123456", got ${JSON.stringify(value)}`);
  return value;
}

/** Moves `defaultAddress` to `defaultShippingAddress`; 400 if both are sent. */
function addressAlias(body: Record<string, unknown>): Record<string, unknown> {
  if (body.defaultAddress === undefined) return body;
  if (body.defaultShippingAddress !== undefined) throw invalidField('defaultAddress', 'send defaultShippingAddress or defaultAddress, not both');
  const { defaultAddress, ...rest } = body;
  return { ...rest, defaultShippingAddress: defaultAddress };
}

const NEW_FIELDS = ['email', 'firstName', 'lastName', 'phone', 'defaultShippingAddress', 'marketingOptIn', 'accountId'];

/** The body of `POST /customers`. */
export function parseNewCustomer(raw: Record<string, unknown>): NewCustomer {
  const body = addressAlias(raw);
  checkFields(body, NEW_FIELDS, ['email', 'firstName', 'lastName']);
  return {
    email: emailField('email', body.email),
    firstName: textField('firstName', body.firstName, NAME_MAX),
    lastName: textField('lastName', body.lastName, NAME_MAX),
    ...(body.phone === undefined ? {} : { phone: phoneField(body.phone) }),
    ...(body.defaultShippingAddress === undefined ? {} : { defaultShippingAddress: addressField('defaultShippingAddress', body.defaultShippingAddress) }),
    ...(body.marketingOptIn === undefined ? {} : { marketingOptIn: booleanField('marketingOptIn', body.marketingOptIn) }),
    ...(body.accountId === undefined ? {} : { accountId: uuidField('accountId', body.accountId) }),
  };
}

const CHANGE_FIELDS = ['email', 'firstName', 'lastName', 'phone', 'defaultShippingAddress', 'marketingOptIn'];

/** The body of `PUT /customers/:id`, as column changes: at least one field. */
export function parseCustomerChanges(raw: Record<string, unknown>): CustomerChanges {
  const body = addressAlias(raw);
  checkFields(body, CHANGE_FIELDS, []);
  if (CHANGE_FIELDS.every((field) => body[field] === undefined)) throw new ApiError(400, 'NOTHING_TO_CHANGE', `body: expected at least one of ${CHANGE_FIELDS.join(', ')}`, 'body');
  const optional = <T>(field: string, parse: (value: unknown) => T): T | null | undefined => (body[field] === null ? null : body[field] === undefined ? undefined : parse(body[field]));
  return {
    email: body.email === undefined ? undefined : emailField('email', body.email).toLowerCase(),
    first_name: body.firstName === undefined ? undefined : textField('firstName', body.firstName, NAME_MAX),
    last_name: body.lastName === undefined ? undefined : textField('lastName', body.lastName, NAME_MAX),
    phone: optional('phone', phoneField),
    default_shipping_address: optional('defaultShippingAddress', (value) => addressField('defaultShippingAddress', value)),
    marketing_opt_in: body.marketingOptIn === undefined ? undefined : booleanField('marketingOptIn', body.marketingOptIn),
  };
}

/** 409 naming the field another profile holds, else the error itself. */
function conflict(error: unknown): unknown {
  if (error instanceof ProfileTakenError) {
    const code = error.field === 'email' ? 'EMAIL_TAKEN' : 'ACCOUNT_TAKEN';
    return new ApiError(409, code, `${error.field}: another customer profile has ${JSON.stringify(error.value)}`, error.field);
  }
  return error;
}

/** The profile, or 404 / 410. */
function present(row: CustomerRow | undefined, id: string): CustomerRow {
  if (!row) throw new ApiError(404, 'CUSTOMER_NOT_FOUND', `no customer with id ${JSON.stringify(id)}`);
  if (row.deleted_at !== null) throw new ApiError(410, 'CUSTOMER_ERASED', `customer ${id} was erased on ${row.deleted_at.toISOString()}`);
  return row;
}

const publishIn = (tx: ProducerTransaction): Publish => (topic, data) => tx.publish(topic, data);

/** Customer's routes, to mount at `/customers`. */
export function customerRoutes(deps: { readonly producer: Producer; readonly db: SqlExecutor }): Hono {
  const routes = new Hono();

  routes.post('/', async (c) => {
    const input = parseNewCustomer(await readJsonObject(c));
    const customer = await deps.producer.transaction((tx) => createCustomer(tx, publishIn(tx), input)).catch((error: unknown) => { throw conflict(error); });
    return c.json(customer, 201);
  });

  routes.put('/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const changes = parseCustomerChanges(await readJsonObject(c));
    const customer = await deps.producer.transaction(async (tx) => {
      const row = present(await lockCustomer(tx, 'id', id), id);
      if (changes.email !== undefined && changes.email !== row.email && row.account_id !== null) {
        throw new ApiError(409, 'EMAIL_OWNED_BY_AUTH', `email: customer ${id} signs in with account ${row.account_id}; its email changes through Auth`, 'email');
      }
      return changeCustomer(tx, publishIn(tx), id, changes);
    }).catch((error: unknown) => { throw conflict(error); });
    return c.json(customer, 200);
  });

  routes.delete('/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    await deps.producer.transaction(async (tx) => {
      present(await lockCustomer(tx, 'id', id), id);
      await eraseCustomer(tx, publishIn(tx), id);
    });
    return c.body(null, 204);
  });

  routes.get('/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    return c.json(toView(present(await readCustomer(deps.db, id), id)), 200);
  });

  return routes;
}
