import { setTimeout as delay } from 'node:timers/promises';
import { outboxBacklog, type SqlExecutor } from 'datasync/postgres';
import type { SettledInfo } from 'datasync/runtime';
import type { PlatformModule } from './module.js';

/**
 * What the running platform reports on its live line: sync latency (owner's event time to the
 * consumer's commit) and outcomes of every consumer since the last line, events waiting in
 * every outbox, and how far Search's copy of the catalog is behind Catalog.
 */

/** Collects the consumers' outcomes and latencies between two progress lines. */
export class SyncMeter {
  #latencies: number[] = [];
  #counts = { applied: 0, duplicate: 0, stale: 0, dead_lettered: 0 };
  #total = 0;

  /** A consumer's hook (`onSettled`). */
  record(_service: string, info: SettledInfo): void {
    this.#counts[info.outcome] += 1;
    this.#total += 1;
    if (info.event && info.outcome === 'applied') this.#latencies.push(info.committedAtMs - Date.parse(info.event.time));
  }

  /** The figures since the last call, and the total of settled events since the start. */
  take(): Pick<Progress, 'settled' | 'applied' | 'duplicate' | 'stale' | 'deadLettered' | 'p50Ms' | 'p95Ms'> {
    const sorted = this.#latencies.sort((a, b) => a - b);
    const counts = this.#counts;
    this.#latencies = [];
    this.#counts = { applied: 0, duplicate: 0, stale: 0, dead_lettered: 0 };
    return {
      settled: this.#total, applied: counts.applied, duplicate: counts.duplicate, stale: counts.stale, deadLettered: counts.dead_lettered,
      p50Ms: percentile(sorted, 0.5), p95Ms: percentile(sorted, 0.95),
    };
  }
}

/** The `q` quantile of ascending `sorted`; undefined for none. */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** What one progress line reports. */
export interface Progress {
  /** Events every consumer settled since the start. */
  readonly settled: number;
  /** Since the last line: outcomes, and latency percentiles of the applied events. */
  readonly applied: number;
  readonly duplicate: number;
  readonly stale: number;
  readonly deadLettered: number;
  readonly p50Ms: number | undefined;
  readonly p95Ms: number | undefined;
  /** Committed events no relay has published yet, over every outbox. */
  readonly outboxPending: number;
  /** See {@link productsBehind}; 0 when Catalog or Search does not run here. */
  readonly behind: number;
  /** The workload's counters, when one runs. */
  readonly workload?: Readonly<Record<string, number>>;
}

/**
 * Products whose Search copy is not current: a product Catalog has that Search lacks or holds
 * at another version, plus a product Catalog deleted that Search still shows. (Products Search
 * has that Catalog never had, such as the audit's probe events, are not behind anything.)
 */
export async function productsBehind(db: SqlExecutor): Promise<number> {
  const { rows } = await db.query<{ behind: number }>(
    `SELECT (SELECT count(*) FROM catalog.products c LEFT JOIN search.products s ON s.id = c.id
             WHERE s.version IS DISTINCT FROM c.version)
          + (SELECT count(*) FROM catalog.deleted_products d JOIN search.products s ON s.id = d.id
             WHERE NOT s.deleted) AS behind`,
  );
  return Number(rows[0]?.behind ?? 0);
}

/** Reads the database side of {@link Progress} for the `modules` running here. */
export async function readBacklog(db: SqlExecutor, modules: readonly PlatformModule[]): Promise<Pick<Progress, 'outboxPending' | 'behind'>> {
  const publishers = modules.filter((module) => module.publishes.length > 0);
  const statuses = await Promise.all(publishers.map((module) => outboxBacklog(db, module.name)));
  const names = new Set(modules.map((module) => module.name));
  const behind = names.has('catalog') && names.has('search') ? await productsBehind(db) : 0;
  return { outboxPending: statuses.reduce((sum, status) => sum + status.pending, 0), behind };
}

/** `datasync: sync p50 4 ms, p95 12 ms · applied 120 (duplicate 0, stale 2, dead-lettered 0) · …` */
export function progressLine(p: Progress): string {
  const n = (value: number): string => value.toLocaleString('en-US');
  const ms = (value: number | undefined): string => (value === undefined ? '–' : `${Math.round(value)} ms`);
  const work = p.workload ? ` · workload ${Object.entries(p.workload).map(([name, count]) => `${name} ${n(count)}`).join(', ')}` : '';
  return `datasync: sync p50 ${ms(p.p50Ms)}, p95 ${ms(p.p95Ms)} · applied ${n(p.applied)} (duplicate ${n(p.duplicate)}, stale ${n(p.stale)}, ` +
    `dead-lettered ${n(p.deadLettered)}) · ${n(p.settled)} events settled in all · outbox pending ${n(p.outboxPending)} · ` +
    `products not yet current in search ${n(p.behind)}${work}`;
}

/** Polls until every outbox is published and Search is current, or `timeoutMs` passes; returns the last backlog. */
export async function waitUntilCaughtUp(db: SqlExecutor, modules: readonly PlatformModule[], timeoutMs: number): Promise<Pick<Progress, 'outboxPending' | 'behind'>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const backlog = await readBacklog(db, modules);
    if ((backlog.outboxPending === 0 && backlog.behind === 0) || Date.now() >= deadline) return backlog;
    await delay(100);
  }
}
