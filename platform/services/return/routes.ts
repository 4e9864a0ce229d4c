import { Hono } from 'hono';
import type { SqlPool } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import type { ReturnReason } from '../../contracts/return.js';
import { invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, enumField, integerField, textField, uuidField } from '../../http/fields.js';
import { MAX_QUANTITY } from '../../http/fields.js';
import { readReturn, receiveReturn, requestReturn, returnableOf, type ReceivedLine, type ReturnLine } from './returns.js';

/**
 * Return's HTTP routes, mounted at `/returns`. Bad input is a 400 naming the field; a return
 * the rules refuse (order not delivered, product not in the order, more units than left) a
 * 422 naming the field.
 *
 *   POST /returns               {"orderId", "lines": [{"productId", "quantity", "reason"}], "comment"?}
 *                               reason: damaged | wrong-item | not-as-described | no-longer-needed | other → 201 the return
 *   GET  /returns/:id           → 200 the return, 404
 *   POST /returns/:id/receive   {"lines": [{"productId", "quantity", "condition": "resellable"|"damaged"}], "warehouseId"?}
 *                               → 200 the received return; 409 if received already
 *   GET  /returns/orders/:id    → 200 what of the order can be returned {orderId, status, deliveredAt?, lines: [{productId, ordered, returnable}]}, 404
 */

const REASONS: readonly ReturnReason[] = ['damaged', 'wrong-item', 'not-as-described', 'no-longer-needed', 'other'];
const CONDITIONS = ['resellable', 'damaged'] as const;

/** `lines`: 1 to 100 objects with distinct `productId`s, each checked by `third` (the reason or condition field). */
function parseLines<T>(value: unknown, third: string, parse: (field: string, value: unknown) => T): { productId: string; quantity: number; extra: T }[] {
  if (!Array.isArray(value)) throw invalidField('lines', `expected a list of {"productId", "quantity", "${third}"}, got ${JSON.stringify(value)}`);
  if (value.length === 0 || value.length > 100) throw invalidField('lines', `expected 1 to 100 lines, got ${value.length}`);
  const seen = new Set<string>();
  return value.map((raw, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidField(`lines[${i}]`, `expected an object, got ${JSON.stringify(raw)}`);
    const line = raw as Record<string, unknown>;
    const fields = ['productId', 'quantity', third];
    const unknown = Object.keys(line).find((key) => !fields.includes(key));
    if (unknown !== undefined) throw invalidField(`lines[${i}].${unknown}`, `unknown field (expected ${fields.join(', ')})`, 'UNKNOWN_FIELD');
    for (const field of fields) if (line[field] === undefined) throw invalidField(`lines[${i}].${field}`, 'is required', 'MISSING_FIELD');
    const productId = uuidField(`lines[${i}].productId`, line.productId);
    if (seen.has(productId)) throw invalidField(`lines[${i}].productId`, `product ${productId} is listed twice`, 'DUPLICATE_LINE');
    seen.add(productId);
    return { productId, quantity: integerField(`lines[${i}].quantity`, line.quantity, 1, MAX_QUANTITY), extra: parse(`lines[${i}].${third}`, line[third]) };
  });
}

/** The body of `POST /returns`; 400 naming the first bad field. */
export function parseReturnRequest(body: Record<string, unknown>): { orderId: string; lines: ReturnLine[]; comment?: string } {
  checkFields(body, ['orderId', 'lines', 'comment'], ['orderId', 'lines']);
  return {
    orderId: uuidField('orderId', body.orderId),
    lines: parseLines(body.lines, 'reason', (field, value) => enumField(field, value, REASONS)).map(({ productId, quantity, extra }) => ({ productId, quantity, reason: extra })),
    ...(body.comment === undefined ? {} : { comment: textField('comment', body.comment, 1000) }),
  };
}

/** The body of `POST /returns/:id/receive`; 400 naming the first bad field. */
export function parseReceipt(body: Record<string, unknown>): { lines: ReceivedLine[]; warehouseId?: string } {
  checkFields(body, ['lines', 'warehouseId'], ['lines']);
  return {
    lines: parseLines(body.lines, 'condition', (field, value) => enumField(field, value, CONDITIONS)).map(({ productId, quantity, extra }) => ({ productId, quantity, condition: extra })),
    ...(body.warehouseId === undefined ? {} : { warehouseId: uuidField('warehouseId', body.warehouseId) }),
  };
}

/** Return's routes. */
export function returnRoutes({ producer, pool }: { readonly producer: Producer; readonly pool: SqlPool }): Hono {
  const routes = new Hono();
  routes.post('/', async (c) => {
    const request = parseReturnRequest(await readJsonObject(c));
    return c.json(await producer.transaction((tx) => requestReturn(tx, request)), 201);
  });
  routes.get('/orders/:id', async (c) => c.json(await returnableOf(pool, uuidField('orderId', c.req.param('id')))));
  routes.get('/:id', async (c) => c.json(await readReturn(pool, uuidField('id', c.req.param('id')))));
  routes.post('/:id/receive', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const receipt = parseReceipt(await readJsonObject(c));
    return c.json(await producer.transaction((tx) => receiveReturn(tx, id, receipt)));
  });
  return routes;
}
