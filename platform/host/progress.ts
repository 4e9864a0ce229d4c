import { setTimeout as delay } from 'node:timers/promises';
import { outboxStatus, type SqlExecutor } from 'datasync/postgres';

/**
 * How far Search's copy is behind Catalog, read from both services' tables, and the demo's
 * one-line progress report.
 */

/**
 * Products whose Search copy is not current: a product Search lacks or holds at another
 * version, plus copies of deleted products not yet marked deleted.
 */
export async function productsBehind(db: SqlExecutor): Promise<number> {
  const { rows } = await db.query<{ behind: number }>(
    `SELECT (SELECT count(*) FROM catalog.products c LEFT JOIN search.products s ON s.id = c.id
             WHERE s.version IS DISTINCT FROM c.version)
          + (SELECT count(*) FROM search.products s
             WHERE NOT s.deleted AND NOT EXISTS (SELECT 1 FROM catalog.products c WHERE c.id = s.id)) AS behind`,
  );
  return Number(rows[0]?.behind ?? 0);
}

/** What one progress line reports. */
export interface Progress {
  /** Product changes Catalog committed (each with its event) in this run. */
  readonly written: number;
  /** Events the relay published in this run. */
  readonly published: number;
  /** Events Search applied in this run; stale ones were older than its copy. */
  readonly applied: number;
  readonly stale: number;
  readonly deadLettered: number;
  /** Committed events the relay has not yet published. */
  readonly outboxPending: number;
  /** See {@link productsBehind}. */
  readonly behind: number;
  /** Median time from Catalog's change (event time) to Search's commit over the last interval; undefined when nothing arrived. */
  readonly latencyMs: number | undefined;
}

/** Reads the database side of {@link Progress}. */
export async function readBacklog(db: SqlExecutor): Promise<Pick<Progress, 'outboxPending' | 'behind'>> {
  const [status, behind] = await Promise.all([outboxStatus(db, 'catalog'), productsBehind(db)]);
  return { outboxPending: status.pending, behind };
}

/** `datasync demo: catalog wrote 120 changes · relay published 118 · search applied 117 (…) · …` */
export function progressLine(p: Progress): string {
  const n = (value: number): string => value.toLocaleString('en-US');
  const latency = p.latencyMs === undefined ? '' : ` · Catalog to Search in ${Math.round(p.latencyMs)} ms (median)`;
  return `datasync demo: catalog wrote ${n(p.written)} changes · relay published ${n(p.published)} · ` +
    `search applied ${n(p.applied)} (stale ${n(p.stale)}, dead-lettered ${n(p.deadLettered)}) · ` +
    `outbox pending ${n(p.outboxPending)} · products not yet current in search ${n(p.behind)}${latency}`;
}

/** The median of `values`; undefined for none. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Polls until the outbox is empty and Search is current, or `timeoutMs` passes; returns the last backlog. */
export async function waitUntilCaughtUp(db: SqlExecutor, timeoutMs: number): Promise<Pick<Progress, 'outboxPending' | 'behind'>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const backlog = await readBacklog(db);
    if ((backlog.outboxPending === 0 && backlog.behind === 0) || Date.now() >= deadline) return backlog;
    await delay(100);
  }
}
