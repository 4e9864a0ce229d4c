import { randomUUID } from 'node:crypto';
import type { ModuleAudit } from '../../host/module.js';
import { messageFailed, systemErrorReported, type SystemErrorReported } from '../../contracts/notification.js';
import { BOUNCE_DOMAIN } from './messages.js';

/**
 * Notification's probes for `datasync audit`: a manual send through its API to a bouncing
 * address, whose `notification.message.failed` Customer consumes (`message.sent` has no
 * subscriber), and the alert it records for a `notification.system-error.reported`.
 */

function report(withEvent: boolean): SystemErrorReported {
  return {
    id: randomUUID(), service: 'catalog', severity: 'error', code: 'DEAD_LETTERED', message: 'audit probe: an event was dead-lettered',
    ...(withEvent ? { topic: 'catalog.product.created', eventId: randomUUID() } : {}),
    occurredAt: new Date().toISOString(),
  };
}

export const notificationAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const reply = await api.request('notification', 'POST', '/notifications/messages', {
        channel: 'email', recipient: `audit-${randomUUID()}@${BOUNCE_DOMAIN}`, template: 'audit-probe',
      });
      if (reply.status !== 201) throw new Error(`POST /notifications/messages answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      return { topic: messageFailed, key: (reply.body as { id: string }).id };
    },
  },
  consume: {
    topic: systemErrorReported,
    async valid() {
      return report(true);
    },
    /** A DEAD_LETTERED report that does not name the event: refused (events.ts). */
    async failing() {
      return report(false);
    },
    async effects(db, data: SystemErrorReported) {
      const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM notification.alerts WHERE report_id = $1', [data.id]);
      return row!.n;
    },
  },
};
