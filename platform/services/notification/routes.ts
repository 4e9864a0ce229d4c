import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import type { Channel } from '../../contracts/notification.js';
import { invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, emailField, enumField, integerField, textField, uuidField } from '../../http/fields.js';
import { listAlerts, listMessages, sendMessage, type OutgoingMessage } from './messages.js';

/**
 * Notification's HTTP routes.
 *
 *   POST /notifications/messages  {"channel": "email"|"sms"|"push", "recipient", "template", "customerId"?, "params"?}
 *                                 → 201 the message with its outcome (status sent or failed: a refusal by the
 *                                   provider is a result, not a bad request); the outcome is published
 *   GET  /notifications/messages?limit=50  → 200 {messages: [...]} newest first (limit 1–200)
 *   GET  /notifications/alerts?limit=50    → 200 {alerts: [...]} newest first (limit 1–200)
 */

const CHANNELS: readonly Channel[] = ['email', 'sms', 'push'];
/** The contract's template pattern. */
const TEMPLATE_PATTERN = /^[a-z][a-z0-9-]{1,63}$/;
const PHONE_PATTERN = /^\+[1-9]\d{6,14}$/;
const LIMIT = { default: 50, max: 200 };

function recipientField(channel: Channel, value: unknown): string {
  if (channel === 'email') return emailField('recipient', value);
  if (channel === 'sms') {
    if (typeof value !== 'string' || !PHONE_PATTERN.test(value)) throw invalidField('recipient', `expected an E.164 phone number such as "+4930123456" for sms, got ${JSON.stringify(value)}`);
    return value;
  }
  return textField('recipient', value, 320);
}

/** The body of `POST /notifications/messages`. */
export function parseOutgoingMessage(body: Record<string, unknown>): OutgoingMessage {
  checkFields(body, ['channel', 'recipient', 'template', 'customerId', 'params'], ['channel', 'recipient', 'template']);
  const channel = enumField('channel', body.channel, CHANNELS);
  const recipient = recipientField(channel, body.recipient);
  if (typeof body.template !== 'string' || !TEMPLATE_PATTERN.test(body.template)) {
    throw invalidField('template', `expected a template name of lower-case letters, digits and '-' such as "order-confirmation", got ${JSON.stringify(body.template)}`);
  }
  if (body.params !== undefined && (typeof body.params !== 'object' || body.params === null || Array.isArray(body.params))) {
    throw invalidField('params', `expected an object of template parameters, got ${JSON.stringify(body.params)}`);
  }
  return {
    channel, recipient, template: body.template,
    ...(body.customerId === undefined ? {} : { customerId: uuidField('customerId', body.customerId) }),
    ...(body.params === undefined ? {} : { params: body.params as Record<string, unknown> }),
  };
}

function limitOf(value: string | undefined): number {
  if (value === undefined) return LIMIT.default;
  return integerField('limit', /^-?\d+$/.test(value) ? Number(value) : value, 1, LIMIT.max);
}

/** Notification's routes, to mount at `/notifications`. */
export function notificationRoutes(deps: { readonly producer: Producer; readonly db: SqlExecutor }): Hono {
  const routes = new Hono();

  routes.post('/messages', async (c) => {
    const message = parseOutgoingMessage(await readJsonObject(c));
    const sent = await deps.producer.transaction((tx) => sendMessage(tx, (topic, data) => tx.publish(topic, data), message));
    return c.json(sent, 201);
  });

  routes.get('/messages', async (c) => c.json({ messages: await listMessages(deps.db, limitOf(c.req.query('limit'))) }, 200));

  routes.get('/alerts', async (c) => c.json({ alerts: await listAlerts(deps.db, limitOf(c.req.query('limit'))) }, 200));

  return routes;
}
