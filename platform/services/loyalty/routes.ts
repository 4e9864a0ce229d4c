import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, integerField, textField, uuidField } from '../../http/fields.js';
import type { ServiceDirectory } from '../../host/module.js';
import { changePoints, InsufficientPointsError, readAccount } from './accounts.js';

/**
 * Loyalty's HTTP routes.
 *
 *   GET  /loyalty/accounts/:customerId         → 200 {accountId, customerId, balance, tier, version, ledger} (404 no account)
 *   POST /loyalty/accounts/:customerId/adjust  {"points": ±n (not 0), "reason": "…"} → 200 account
 *        (409 INSUFFICIENT_POINTS naming points; 422 CUSTOMER_UNKNOWN naming customerId when the customer has no
 *        account yet and Customer does not know them; 503 CUSTOMER_UNAVAILABLE when Customer cannot be asked)
 *
 * An adjustment is a points change like any other: ledger row, next version, `points-changed`
 * (and `tier-changed` when the tier moves) in the same producer transaction.
 */

const POINTS_MAX = 1_000_000;

/** Throws unless Customer knows `customerId` (asked over its HTTP API). */
async function checkCustomer(services: ServiceDirectory, customerId: string): Promise<void> {
  let status: number;
  try {
    status = (await services.fetch('customer', `/customers/${customerId}`)).status;
  } catch (cause) {
    throw new ApiError(503, 'CUSTOMER_UNAVAILABLE', `the customer service could not be asked whether customer ${customerId} exists: ${(cause as Error).message}`);
  }
  if (status === 404 || status === 410) throw new ApiError(422, 'CUSTOMER_UNKNOWN', `customerId: no customer ${customerId}${status === 410 ? ' (erased)' : ''}`, 'customerId');
  if (status !== 200) throw new ApiError(503, 'CUSTOMER_UNAVAILABLE', `the customer service answered ${status} for customer ${customerId}`);
}

/** Loyalty's routes, to mount at `/loyalty`. */
export function loyaltyRoutes(deps: { readonly producer: Producer; readonly db: SqlExecutor; readonly services: ServiceDirectory }): Hono {
  const routes = new Hono();

  routes.get('/accounts/:customerId', async (c) => {
    const customerId = uuidField('customerId', c.req.param('customerId'));
    const account = await readAccount(deps.db, customerId);
    if (!account) throw new ApiError(404, 'ACCOUNT_NOT_FOUND', `customer ${customerId} has no loyalty account`);
    return c.json(account, 200);
  });

  routes.post('/accounts/:customerId/adjust', async (c) => {
    const customerId = uuidField('customerId', c.req.param('customerId'));
    const body = await readJsonObject(c);
    checkFields(body, ['points', 'reason']);
    const points = integerField('points', body.points, -POINTS_MAX, POINTS_MAX);
    if (points === 0) throw invalidField('points', 'must not be 0');
    const reason = textField('reason', body.reason, 200);
    if (!(await readAccount(deps.db, customerId))) await checkCustomer(deps.services, customerId);
    const account = await deps.producer.transaction((tx) => changePoints(tx, (topic, data) => tx.publish(topic, data), {
      customerId, delta: points, reason: 'adjustment', note: reason,
    })).catch((error: unknown) => {
      if (error instanceof InsufficientPointsError) throw new ApiError(409, 'INSUFFICIENT_POINTS', `points: ${error.message}`, 'points');
      throw error;
    });
    return c.json(account, 200);
  });

  return routes;
}
