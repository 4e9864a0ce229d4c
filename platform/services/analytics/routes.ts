import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { systemErrorReported } from '../../contracts/notification.js';
import { invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, enumField, integerField } from '../../http/fields.js';
import { ALERT_METRICS, countRecent, summarize, type AlertMetric } from './summary.js';

/**
 * Analytics' routes:
 *
 *   GET  /analytics/summary?from=2026-11-01&to=2026-11-07
 *        → 200 {"from", "to", "days": [{"day", "ordersPlaced", "revenue": {"EUR": "…"}, "orderStatusChanges": {"confirmed": n},
 *               "productsCreated", "productsUpdated", "productsDeleted", "customersCreated", "customersUpdated",
 *               "customersDeleted", "pageViews", "topProductPages": [{"productId", "views"}]}]}
 *          (UTC days; default the last 7 days; at most 366); 400 naming `from` or `to`
 *   POST /analytics/alerts/check  {"metric": "ordersPlaced" | "pageViews" | "productsCreated" | "customersCreated",
 *                                  "minimum": 1, "windowMinutes": 60}
 *        → 200 {"metric", "count", "minimum", "windowMinutes", "alert": null | {"id", "severity", "code"}}; 400 naming the field
 *
 * The alert check is the data-quality monitor a scheduler (or an operator) calls: when fewer
 * facts of `metric` happened in the window than `minimum` (say, no order in the last hour), it
 * reports `notification.system-error.reported` (warning, METRIC_BELOW_MINIMUM) through
 * Analytics' outbox, and Notification alerts the on-call channel.
 */

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_DAYS = 366;
const DAY_MS = 86_400_000;

function dayParam(field: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  // year 0000 is a valid JavaScript date but not a PostgreSQL one
  if (!DAY.test(value) || value.startsWith('0000') || Number.isNaN(Date.parse(`${value}T00:00:00Z`)) || new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value) {
    throw invalidField(field, `expected a date as YYYY-MM-DD, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** What the routes use. */
export interface AnalyticsRouteDeps {
  readonly db: SqlExecutor;
  readonly producer: Producer;
}

/** Analytics' routes, to mount at `/analytics`. */
export function analyticsRoutes(deps: AnalyticsRouteDeps): Hono {
  const routes = new Hono();
  routes.get('/summary', async (c) => {
    const today = new Date().toISOString().slice(0, 10);
    const to = dayParam('to', c.req.query('to'), today);
    const from = dayParam('from', c.req.query('from'), new Date(Date.parse(`${to}T00:00:00Z`) - 6 * DAY_MS).toISOString().slice(0, 10));
    const span = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;
    if (span < 1) throw invalidField('from', `must not be after to (${to}), got ${from}`);
    if (span > MAX_DAYS) throw invalidField('from', `expected at most ${MAX_DAYS} days from from to to, got ${span}`);
    return c.json({ from, to, days: await summarize(deps.db, from, to) });
  });
  routes.post('/alerts/check', async (c) => {
    const body = await readJsonObject(c);
    checkFields(body, ['metric', 'minimum', 'windowMinutes']);
    const metric: AlertMetric = enumField('metric', body.metric, Object.keys(ALERT_METRICS) as AlertMetric[]);
    const minimum = integerField('minimum', body.minimum, 1, 1_000_000_000);
    const windowMinutes = integerField('windowMinutes', body.windowMinutes, 1, 7 * 24 * 60);
    const count = await countRecent(deps.db, metric, windowMinutes);
    if (count >= minimum) return c.json({ metric, count, minimum, windowMinutes, alert: null });
    const alert = await deps.producer.transaction((tx) => tx.publish(systemErrorReported, {
      id: randomUUID(), service: 'analytics', severity: 'warning', code: 'METRIC_BELOW_MINIMUM',
      message: `${metric}: ${count} in the last ${windowMinutes} minutes, below the minimum of ${minimum}`,
      occurredAt: new Date().toISOString(),
    }));
    return c.json({ metric, count, minimum, windowMinutes, alert: { id: alert.data.id, severity: alert.data.severity, code: alert.data.code } });
  });
  return routes;
}
