import { randomUUID } from 'node:crypto';
import type { Topic } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { messageFailed, messageSent, type Channel, type MessageOutcome } from '../../contracts/notification.js';

/**
 * Notification's own data: the messages it sends and the alerts it records, and the simulated
 * provider that delivers messages. There is no network: "delivering" writes the message into
 * the channel's mailbox table (`notification.deliveries`), or fails it by a fixed rule, in the
 * caller's transaction, and publishes `notification.message.sent` or `.failed` there too.
 *
 * Failure rules of the simulated provider (deterministic, so tests and the audit can rely on them):
 * - an email to the domain `bounce.invalid` → failed, `hard-bounce: …` (Customer marks the email bouncing);
 * - anything else → sent, with the provider reference `sim-<delivery id>`.
 *
 * Recipients: an email address, an E.164 phone number, a device token, or a reference the
 * provider resolves when it sends: `customer:<id>` (Customer's contact of that customer) and
 * `order:<id>` (the order's email, which Order holds). Notification keeps no copy of customers
 * or orders; the events it reacts to carry only those ids.
 */

/** One alert per report id (a report repeated under another envelope is stale). */
export const uniqueAlertReports: Migration = {
  id: 'notification_0002_unique_alert_reports',
  sql: `DROP INDEX IF EXISTS {schema}.alerts_report;
    CREATE UNIQUE INDEX IF NOT EXISTS alerts_report_id ON {schema}.alerts (report_id)`,
};

export const notificationTables: Migration = {
  id: 'notification_0001_messages',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.messages (
    id                  uuid PRIMARY KEY,
    channel             text NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
    recipient           text NOT NULL,
    customer_id         uuid,
    template            text NOT NULL,
    params              jsonb NOT NULL DEFAULT '{}',
    status              text NOT NULL CHECK (status IN ('sent', 'failed')),
    provider_reference  text,
    error               text,
    source_event_id     text,
    created_at          timestamptz NOT NULL
  );
  CREATE INDEX IF NOT EXISTS messages_created ON {schema}.messages (created_at DESC);
  CREATE INDEX IF NOT EXISTS messages_source ON {schema}.messages (source_event_id);
  CREATE INDEX IF NOT EXISTS messages_checkout ON {schema}.messages ((params->>'checkoutId')) WHERE template = 'checkout-reminder';
  CREATE TABLE IF NOT EXISTS {schema}.deliveries (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id    uuid NOT NULL UNIQUE REFERENCES {schema}.messages (id),
    channel       text NOT NULL,
    recipient     text NOT NULL,
    template      text NOT NULL,
    params        jsonb NOT NULL,
    delivered_at  timestamptz NOT NULL
  );
  CREATE TABLE IF NOT EXISTS {schema}.alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id        uuid NOT NULL,
    service          text NOT NULL,
    severity         text NOT NULL,
    code             text NOT NULL,
    message          text NOT NULL,
    topic            text,
    event_id         text,
    occurred_at      timestamptz NOT NULL,
    paged_message_id uuid REFERENCES {schema}.messages (id),
    source_event_id  text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS alerts_report ON {schema}.alerts (report_id);
  CREATE TABLE IF NOT EXISTS {schema}.shipment_updates (
    shipment_id  uuid PRIMARY KEY,
    version      integer NOT NULL,
    status       text NOT NULL
  )`,
};

/** The simulated provider's domain whose mailboxes do not exist. */
export const BOUNCE_DOMAIN = 'bounce.invalid';

/** Writes an event in the caller's transaction. */
export type Publish = <T>(topic: Topic<T>, data: T) => Promise<unknown>;

/** A message to send; callers validate the recipient for the channel. */
export interface OutgoingMessage {
  readonly channel: Channel;
  readonly recipient: string;
  readonly customerId?: string;
  /** e.g. `checkout-reminder`: lower case, digits and `-`. */
  readonly template: string;
  readonly params?: Record<string, unknown>;
  /** The event that caused it (none for a manual send). */
  readonly sourceEventId?: string;
}

/** A message as the API returns it. */
export interface Message extends MessageOutcome {
  readonly status: 'sent' | 'failed';
  readonly params: Record<string, unknown>;
  readonly sourceEventId: string | null;
}

/** The simulated provider's verdict: undefined = deliverable, else the error. */
function refusal(message: OutgoingMessage): string | undefined {
  if (message.channel === 'email' && message.recipient.toLowerCase().endsWith(`@${BOUNCE_DOMAIN}`)) {
    return `hard-bounce: the recipient's mail domain does not exist (simulated provider: ${BOUNCE_DOMAIN})`;
  }
  return undefined;
}

/**
 * Records `message`, hands it to the simulated provider and publishes the outcome, all in
 * `tx`: `notification.message.sent` with the provider's reference, or `.failed` with its error.
 */
export async function sendMessage(tx: SqlExecutor, publish: Publish, message: OutgoingMessage): Promise<Message> {
  const id = randomUUID();
  const params = message.params ?? {};
  const error = refusal(message);
  const { rows: [row] } = await tx.query<{ created_at: Date }>(
    `INSERT INTO notification.messages (id, channel, recipient, customer_id, template, params, status, error, source_event_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) RETURNING created_at`,
    [id, message.channel, message.recipient, message.customerId ?? null, message.template, JSON.stringify(params), error ? 'failed' : 'sent', error ?? null, message.sourceEventId ?? null],
  );
  const outcome = {
    id, channel: message.channel, recipient: message.recipient, template: message.template, occurredAt: row!.created_at.toISOString(),
    ...(message.customerId ? { customerId: message.customerId } : {}),
  };
  if (error) {
    await publish(messageFailed, { ...outcome, error });
    return { ...outcome, error, status: 'failed', params, sourceEventId: message.sourceEventId ?? null };
  }
  const { rows: [delivery] } = await tx.query<{ id: string }>(
    'INSERT INTO notification.deliveries (message_id, channel, recipient, template, params, delivered_at) VALUES ($1, $2, $3, $4, $5, now()) RETURNING id',
    [id, message.channel, message.recipient, message.template, JSON.stringify(params)],
  );
  const providerReference = `sim-${delivery!.id}`;
  await tx.query('UPDATE notification.messages SET provider_reference = $2 WHERE id = $1', [id, providerReference]);
  await publish(messageSent, { ...outcome, providerReference });
  return { ...outcome, providerReference, status: 'sent', params, sourceEventId: message.sourceEventId ?? null };
}

interface MessageRow {
  id: string;
  channel: Channel;
  recipient: string;
  customer_id: string | null;
  template: string;
  params: Record<string, unknown>;
  status: 'sent' | 'failed';
  provider_reference: string | null;
  error: string | null;
  source_event_id: string | null;
  created_at: Date;
}

/** The newest `limit` messages, newest first. */
export async function listMessages(db: SqlExecutor, limit: number): Promise<Message[]> {
  const { rows } = await db.query<MessageRow>('SELECT * FROM notification.messages ORDER BY created_at DESC, id LIMIT $1', [limit]);
  return rows.map((row) => ({
    id: row.id, channel: row.channel, recipient: row.recipient, template: row.template, params: row.params, status: row.status,
    occurredAt: row.created_at.toISOString(), sourceEventId: row.source_event_id,
    ...(row.customer_id ? { customerId: row.customer_id } : {}),
    ...(row.provider_reference ? { providerReference: row.provider_reference } : {}),
    ...(row.error ? { error: row.error } : {}),
  }));
}

/** The newest `limit` alerts, newest first. */
export async function listAlerts(db: SqlExecutor, limit: number): Promise<unknown[]> {
  const { rows } = await db.query<{ report_id: string; service: string; severity: string; code: string; message: string; topic: string | null; event_id: string | null; occurred_at: Date; paged_message_id: string | null; source_event_id: string }>(
    'SELECT * FROM notification.alerts ORDER BY id DESC LIMIT $1',
    [limit],
  );
  return rows.map((row) => ({
    id: row.report_id, service: row.service, severity: row.severity, code: row.code, message: row.message, topic: row.topic,
    eventId: row.event_id, occurredAt: row.occurred_at.toISOString(), pagedMessageId: row.paged_message_id, sourceEventId: row.source_event_id,
  }));
}
