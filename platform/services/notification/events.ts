import { PermanentError } from 'datasync/core';
import type { SqlExecutor } from 'datasync/postgres';
import { on, type AnySubscription, type Producer } from 'datasync/runtime';
import { checkoutAbandoned } from '../../contracts/checkout.js';
import { systemErrorReported } from '../../contracts/notification.js';
import { shipmentStatusChanged, type ShipmentStatus } from '../../contracts/shipping.js';
import { sendMessage, type Publish } from './messages.js';

/**
 * What Notification does with the events it consumes. Each message it sends carries the id of
 * the event that caused it, and its outcome is published through Notification's outbox in
 * the consumer's transaction (`producer.publishWithin`), so a message, its outcome event and
 * the consumer's processed-event record commit together.
 *
 * - `notification.system-error.reported`: an alert row per report; `critical` also pages the
 *   on-call channel (an email to {@link ON_CALL_RECIPIENT}). A `DEAD_LETTERED` report must name
 *   the event (topic and eventId), or the on-call cannot find the dead letter: refused
 *   (PermanentError).
 * - `checkout.session.abandoned`: a reminder email to the customer (`customer:<id>`, resolved by
 *   the provider; the event carries no address). A guest checkout (no customer) gets none.
 *   One reminder per session: a repeat of an older version is `stale`.
 * - `shipping.shipment.status-changed`: a shipping update to the order's customer
 *   (`order:<orderId>`) for the statuses a customer cares about; version-based per shipment,
 *   so an older status arriving late sends nothing (`stale`).
 */

/** Where critical alerts go. */
export const ON_CALL_RECIPIENT = 'on-call@ops.example.com';

/** Shipment statuses that tell the customer something. */
const NOTIFIED: readonly ShipmentStatus[] = ['in-transit', 'out-for-delivery', 'delivered', 'exception', 'returned-to-sender'];

export function notificationHandlers(producer: Producer): AnySubscription[] {
  const outbox = (tx: SqlExecutor, causationId: string): Publish => (topic, data) => producer.publishWithin(tx, topic, data, { causationId });

  return [
    on(systemErrorReported, async ({ event, tx }) => {
      const report = event.data;
      // one alert per report id: the same dead letter reported again (its event redelivered or replayed) pages no one twice
      const { rows: known } = await tx.query('SELECT 1 FROM notification.alerts WHERE report_id = $1', [report.id]);
      if (known.length > 0) return 'stale';
      if (report.code === 'DEAD_LETTERED' && (!report.topic || !report.eventId)) {
        throw new PermanentError(`report ${report.id} from ${report.service} says DEAD_LETTERED but does not name the event (topic and eventId): the on-call could not find the dead letter`);
      }
      const paged = report.severity === 'critical'
        ? await sendMessage(tx, outbox(tx, event.id), {
          channel: 'email', recipient: ON_CALL_RECIPIENT, template: 'system-alert', sourceEventId: event.id,
          params: { service: report.service, code: report.code, message: report.message, topic: report.topic ?? null, eventId: report.eventId ?? null },
        })
        : undefined;
      await tx.query(
        `INSERT INTO notification.alerts (report_id, service, severity, code, message, topic, event_id, occurred_at, paged_message_id, source_event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [report.id, report.service, report.severity, report.code, report.message, report.topic ?? null, report.eventId ?? null, report.occurredAt, paged?.id ?? null, event.id],
      );
      return 'applied';
    }),

    on(checkoutAbandoned, async ({ event, tx }) => {
      const session = event.data;
      if (!session.customerId) return 'applied'; // a guest: no one to remind
      const { rows } = await tx.query("SELECT 1 FROM notification.messages WHERE template = 'checkout-reminder' AND params->>'checkoutId' = $1", [session.id]);
      if (rows.length > 0) return 'stale';
      await sendMessage(tx, outbox(tx, event.id), {
        channel: 'email', recipient: `customer:${session.customerId}`, customerId: session.customerId, template: 'checkout-reminder', sourceEventId: event.id,
        params: { checkoutId: session.id, cartId: session.cartId, lastStep: session.lastStep },
      });
      return 'applied';
    }),

    on(shipmentStatusChanged, async ({ event, tx }) => {
      const shipment = event.data;
      const { rowCount } = await tx.query(
        `INSERT INTO notification.shipment_updates AS s (shipment_id, version, status) VALUES ($1, $2, $3)
         ON CONFLICT (shipment_id) DO UPDATE SET version = excluded.version, status = excluded.status WHERE s.version < excluded.version`,
        [shipment.id, shipment.version, shipment.status],
      );
      if (rowCount === 0) return 'stale';
      if (!NOTIFIED.includes(shipment.status)) return 'applied';
      await sendMessage(tx, outbox(tx, event.id), {
        channel: 'email', recipient: `order:${shipment.orderId}`, template: `shipment-${shipment.status}`, sourceEventId: event.id,
        params: {
          shipmentId: shipment.id, orderId: shipment.orderId, trackingNumber: shipment.trackingNumber, status: shipment.status,
          estimatedDeliveryAt: shipment.estimatedDeliveryAt ?? null,
        },
      });
      return 'applied';
    }),
  ];
}
