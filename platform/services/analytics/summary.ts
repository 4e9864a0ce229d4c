import type { SqlExecutor } from 'datasync/postgres';

/**
 * Analytics' reports, derived from its facts (facts.ts) at query time, so they always agree
 * with the facts and never count an event twice.
 */

/** One product page and how often it was viewed. */
export interface ProductPageViews {
  readonly productId: string;
  readonly views: number;
}

/** The counts of one UTC day. */
export interface DaySummary {
  readonly day: string;
  readonly ordersPlaced: number;
  /** Totals of the orders placed that day, per currency (decimal strings). */
  readonly revenue: Readonly<Record<string, string>>;
  /** Order status changes that day, per new status. */
  readonly orderStatusChanges: Readonly<Record<string, number>>;
  readonly productsCreated: number;
  readonly productsUpdated: number;
  readonly productsDeleted: number;
  readonly customersCreated: number;
  readonly customersUpdated: number;
  readonly customersDeleted: number;
  readonly pageViews: number;
  /** The 10 most viewed product pages that day, most viewed first. */
  readonly topProductPages: readonly ProductPageViews[];
}

const COUNTED: Record<string, keyof DaySummary> = {
  order_placed: 'ordersPlaced',
  product_created: 'productsCreated',
  product_updated: 'productsUpdated',
  product_deleted: 'productsDeleted',
  customer_created: 'customersCreated',
  customer_updated: 'customersUpdated',
  customer_deleted: 'customersDeleted',
  page_viewed: 'pageViews',
};

/** Product pages listed per day. */
export const TOP_PRODUCT_PAGES = 10;

/** The summary of every UTC day from `from` to `to` (YYYY-MM-DD, inclusive), oldest first; days without facts have zeros. */
export async function summarize(db: SqlExecutor, from: string, to: string): Promise<DaySummary[]> {
  const [counts, revenue, statuses, pages, days] = await Promise.all([
    db.query<{ day: string; kind: string; count: string }>(
      `SELECT day::text AS day, kind, count(*) FROM analytics.facts WHERE day BETWEEN $1 AND $2 GROUP BY day, kind`, [from, to]),
    db.query<{ day: string; currency: string; total: string }>(
      `SELECT day::text AS day, currency, sum(amount)::text AS total FROM analytics.facts
       WHERE kind = 'order_placed' AND day BETWEEN $1 AND $2 GROUP BY day, currency ORDER BY currency`, [from, to]),
    db.query<{ day: string; status: string; count: string }>(
      `SELECT day::text AS day, status, count(*) FROM analytics.facts
       WHERE kind = 'order_status_changed' AND day BETWEEN $1 AND $2 GROUP BY day, status ORDER BY status`, [from, to]),
    db.query<{ day: string; product_id: string; views: string }>(
      `SELECT day, product_id, views FROM (
         SELECT day::text AS day, product_id, count(*) AS views,
                row_number() OVER (PARTITION BY day ORDER BY count(*) DESC, product_id) AS rank
         FROM analytics.facts WHERE kind = 'page_viewed' AND product_id IS NOT NULL AND day BETWEEN $1 AND $2
         GROUP BY day, product_id) ranked
       WHERE rank <= ${TOP_PRODUCT_PAGES} ORDER BY day, rank`, [from, to]),
    db.query<{ day: string }>(`SELECT d::date::text AS day FROM generate_series($1::date, $2::date, interval '1 day') AS d`, [from, to]),
  ]);
  const byDay = new Map<string, { -readonly [K in keyof DaySummary]: DaySummary[K] }>();
  for (const { day } of days.rows) {
    byDay.set(day, {
      day, ordersPlaced: 0, revenue: {}, orderStatusChanges: {}, productsCreated: 0, productsUpdated: 0, productsDeleted: 0,
      customersCreated: 0, customersUpdated: 0, customersDeleted: 0, pageViews: 0, topProductPages: [],
    });
  }
  for (const row of counts.rows) {
    const field = COUNTED[row.kind];
    const summary = byDay.get(row.day);
    if (field && summary) (summary as unknown as Record<string, number>)[field] = Number(row.count);
  }
  for (const row of revenue.rows) {
    const summary = byDay.get(row.day);
    if (summary) summary.revenue = { ...summary.revenue, [row.currency]: row.total };
  }
  for (const row of statuses.rows) {
    const summary = byDay.get(row.day);
    if (summary) summary.orderStatusChanges = { ...summary.orderStatusChanges, [row.status]: Number(row.count) };
  }
  for (const row of pages.rows) {
    const summary = byDay.get(row.day);
    if (summary) summary.topProductPages = [...summary.topProductPages, { productId: row.product_id, views: Number(row.views) }];
  }
  return [...byDay.values()];
}

/** The metrics an alert check can watch, and the fact kind each counts. */
export const ALERT_METRICS = {
  ordersPlaced: 'order_placed',
  pageViews: 'page_viewed',
  productsCreated: 'product_created',
  customersCreated: 'customer_created',
} as const;
export type AlertMetric = keyof typeof ALERT_METRICS;

/** Facts of `metric` that happened in the last `windowMinutes`. */
export async function countRecent(db: SqlExecutor, metric: AlertMetric, windowMinutes: number): Promise<number> {
  const { rows: [row] } = await db.query<{ count: string }>(
    `SELECT count(*) FROM analytics.facts WHERE kind = $1 AND occurred_at > now() - make_interval(mins => $2)`,
    [ALERT_METRICS[metric], windowMinutes],
  );
  return Number(row!.count);
}
