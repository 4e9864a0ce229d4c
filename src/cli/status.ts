import { setTimeout as delay } from 'node:timers/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type pg from 'pg';
import { SYNC_LATENCY_BUCKETS, type ConsumedOutcome } from '../observability/sync-metrics.js';
import {
  DEFAULT_SLA_SECONDS, emptySnapshot, latencyIncreases, percentilesOf, readSnapshot, summarize, urlSources,
  type MetricsSnapshot, type Percentiles, type SyncSummary,
} from '../observability/snapshot.js';
import { DeadLetterStore } from '../postgres/dead-letter-store.js';
import { outboxBacklog } from '../postgres/outbox-admin.js';
import { openPostgres } from '../postgres/pool.js';
import { redactUrl, requireMigrated } from './connections.js';
import { CommandFailure } from './failure.js';
import { readInstances } from './instances.js';
import { addJsonOption, parsePositiveNumber, parseSchemaName } from './options.js';
import { Output, formatDuration, type CliIo, type Column, type Style } from './output.js';
import { auditDatabaseUrl } from './platform.js';
import { startProgress } from './progress.js';

/**
 * `datasync status`: a one-screen health summary per service (outbox backlog, consumer lag,
 * dead letters, P95 sync latency, freshness) from two readings of the metrics `--window`
 * seconds apart (the same snapshot code as the dashboard). On the reference platform the
 * processes are found in `platform.instances`; elsewhere `--metrics-url` names them and
 * `--schema` the service schemas whose outbox and dead letters are read from the database.
 */

interface StatusOptions {
  database?: string;
  window: number;
  sla: number;
  schema?: string[];
  metricsUrl?: string[];
  json?: boolean;
}

/** One service's health. Durations in seconds, null when unknown. */
export interface ServiceHealth {
  readonly service: string;
  /** Whether one of its processes answered; null without `platform.instances` (a `--metrics-url` is not tied to services). */
  readonly answering: boolean | null;
  readonly outbox: { readonly pending: number; readonly oldestAgeSeconds: number | null } | null;
  /** Events not yet delivered to its consumer group, summed over its topics. */
  readonly lag: number | null;
  readonly dlqDepth: number | null;
  /** Sync latency of the events it applied in the window, every topic. */
  readonly latency: Percentiles;
  /** The stalest of its copies among topics published to in the window (an idle topic's age says nothing); null when none was. */
  readonly freshnessSeconds: number | null;
  /** `ok`, or what breaks the health rule in a word each: `down`, `slow`, `dead letters`. */
  readonly state: string;
  /** What breaks the health rule, in full; empty when healthy. */
  readonly problems: readonly string[];
}

const collect = (parse: (value: string) => string) => (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), parse(value)];

function parseMetricsUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('Expected an http:// URL of a process serving /platform/metrics.json, e.g. http://127.0.0.1:4300.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('Expected an http:// or https:// URL.');
  return value;
}

/** Adds `datasync status`. */
export function addStatusCommand(program: Command, io: CliIo): void {
  const command = program
    .command('status')
    .description('one-screen sync health per service: outbox backlog, consumer lag, dead letters, P95 sync latency, freshness')
    .option('--database <url>', "the platform's PostgreSQL URL (default: $DATABASE_URL, else the embedded one a running npm start wrote to .datasync/platform.json)")
    .option('--window <seconds>', 'seconds between the two readings that rates and latency are measured over', parsePositiveNumber, 3)
    .option('--sla <seconds>', 'the P95 sync latency target', parsePositiveNumber, DEFAULT_SLA_SECONDS)
    .option('--schema <name>', 'without a platform: a service schema whose outbox and dead letters to read (repeat for more)', collect(parseSchemaName))
    .option('--metrics-url <url>', 'without a platform: a process serving GET /platform/metrics.json (repeat for more)', collect(parseMetricsUrl));
  addJsonOption(command);
  command.addHelpText('after', `
On the reference platform the processes are those registered in platform.instances (a
heartbeat in the last 15 s). Elsewhere, give --metrics-url for each process and --schema
for each service schema; the outbox and dead letters of those schemas are read from the
database directly.

Exit codes: 0 healthy; 1 when a service's P95 sync latency is above --sla, a service has
dead letters waiting, a process does not answer, or (without --schema and --metrics-url) no
platform process is registered; 2 bad arguments; 3 the database does not answer.

Examples:
  datasync status
  datasync status --window 10 --json
  datasync status --schema orders --schema search --metrics-url http://127.0.0.1:9464`);
  command.action(async (options: StatusOptions) => {
    const output = new Output(io, options);
    const schemas = [...new Set(options.schema ?? [])];
    const metricsUrls = options.metricsUrl ?? [];
    const plain = schemas.length > 0 || metricsUrls.length > 0;
    const databaseUrl = plain && schemas.length === 0 ? undefined : auditDatabaseUrl(options.database, io.env);
    let pool: pg.Pool | undefined;
    try {
      if (databaseUrl !== undefined) pool = await openPostgres(databaseUrl, { max: 2, connectionTimeoutMillis: 5_000 });
      for (const schema of schemas) await requireMigrated(pool!, schema, ['outbox', 'outbox_relay', 'dead_letters']);
      const instances = plain ? [] : await readInstances(pool!);
      const urls = plain ? metricsUrls : instances.map((instance) => instance.url);
      const sources = urlSources(urls);
      const problems: string[] = [];
      if (sources.length === 0 && !plain) {
        problems.push(`no running platform process is registered in platform.instances on ${redactUrl(databaseUrl!)} (start it, or give --metrics-url and --schema)`);
      }
      if (sources.length === 0 && plain) output.note('datasync status: no --metrics-url: outbox and dead letters only (latency, lag and freshness come from the processes\' metrics)');

      const [first, second] = sources.length === 0 ? [emptySnapshot(), emptySnapshot()] : await twoReadings(io, sources, options.window);
      const summary = summarize(first, second);
      const backlog = pool && schemas.length > 0 ? await readBacklog(pool, schemas) : undefined;
      const failedUrls = new Map(second.failed.map((f) => [f.source, f.error]));
      const answered = (url: string): boolean => !failedUrls.has(url.replace(/\/+$/, ''));
      const servicesOf = plain
        ? [...new Set([...schemas, ...servicesIn(second)])].sort()
        : [...new Set(instances.map((instance) => instance.service))].sort();
      // a service may run in several processes (a restarted one's row stays fresh for 15 s): every URL of it counts
      const urlsOf = (service: string): string[] => [...new Set(instances.filter((instance) => instance.service === service).map((instance) => instance.url))];
      const services = servicesOf.map((service) => healthOf(service, { first, second, summary, backlog, sla: options.sla, urls: urlsOf(service), answered, failedUrls }));
      if (sources.length > 0 && second.answered.length === 0) problems.push(`no process answers (${second.failed.map((f) => `${f.source}: ${f.error}`).join('; ')})`);
      else if (plain) for (const f of second.failed) problems.push(`${f.source} does not answer: ${f.error}`);
      for (const s of services) problems.push(...s.problems.map((p) => `${s.service}: ${p}`));
      const healthy = problems.length === 0;

      const totals = totalsOf(summary);
      if (output.json) {
        output.document({
          at: new Date(second.at).toISOString(), windowSeconds: summary.windowSeconds, slaSeconds: options.sla, healthy, problems,
          services, throughput: totals, sources: { answered: second.answered, failed: second.failed },
        });
      } else {
        printStatus(output, { services, summary, totals, sla: options.sla, processes: new Set(urls).size, problems });
      }
      if (!healthy) throw new CommandFailure(`status: unhealthy (${problems.length} problem${problems.length === 1 ? '' : 's'}${output.json ? ' in "problems"' : ', listed above'})`);
    } finally {
      await pool?.end();
    }
  });
}

/** Two readings `windowSeconds` apart, with a one-line progress indicator on a terminal. */
async function twoReadings(io: CliIo, sources: ReturnType<typeof urlSources>, windowSeconds: number): Promise<[MetricsSnapshot, MetricsSnapshot]> {
  const progress = startProgress(io, { label: 'measuring', finished: 'measured', unit: ' s', quiet: io.stderr.isTTY !== true });
  try {
    const first = await readSnapshot(sources, { signal: io.signal });
    const end = first.at + windowSeconds * 1_000;
    for (let now = Date.now(); now < end; now = Date.now()) {
      progress.update(Math.floor((now - first.at) / 100) / 10, windowSeconds, 'reading the metrics twice to measure rates and latency');
      await delay(Math.min(100, end - now), undefined, { signal: io.signal });
    }
    return [first, await readSnapshot(sources, { signal: io.signal })];
  } finally {
    progress.close();
  }
}

/** Outbox backlog and dead-letter depth of each schema, read from the database. */
async function readBacklog(pool: pg.Pool, schemas: readonly string[]): Promise<Map<string, { pending: number; oldestAgeSeconds: number; dlqDepth: number }>> {
  const entries = await Promise.all(schemas.map(async (schema) => {
    const [outbox, depth] = await Promise.all([outboxBacklog(pool, schema), new DeadLetterStore(schema).depth(pool)]);
    return [schema, { pending: outbox.pending, oldestAgeSeconds: outbox.oldestPendingAgeSeconds, dlqDepth: depth.reduce((sum, d) => sum + d.count, 0) }] as const;
  }));
  return new Map(entries);
}

/** Every service or consumer a snapshot names. */
function servicesIn(snapshot: MetricsSnapshot): string[] {
  return [
    ...snapshot.outbox.map((o) => o.service), ...snapshot.dlq.map((d) => d.consumer), ...snapshot.latency.map((l) => l.consumer),
    ...snapshot.consumed.map((c) => c.consumer), ...snapshot.published.map((p) => p.service),
  ];
}

interface HealthInputs {
  readonly first: MetricsSnapshot;
  readonly second: MetricsSnapshot;
  readonly summary: SyncSummary;
  readonly backlog: Map<string, { pending: number; oldestAgeSeconds: number; dlqDepth: number }> | undefined;
  readonly sla: number;
  /**
   * The processes registered for the service (platform mode), newest heartbeat first; it answers
   * when any of them does. Without any, whether it answers is not known per service.
   */
  readonly urls: readonly string[];
  readonly answered: (url: string) => boolean;
  readonly failedUrls: ReadonlyMap<string, string>;
}

/** The health of one service from the readings, and what breaks the rule. */
export function healthOf(service: string, inputs: HealthInputs): ServiceHealth {
  const { second, summary, backlog, sla } = inputs;
  const fromDb = backlog?.get(service);
  const metricOutbox = second.outbox.find((o) => o.service === service);
  const outbox = fromDb ? { pending: fromDb.pending, oldestAgeSeconds: fromDb.oldestAgeSeconds } : metricOutbox ? { pending: metricOutbox.pending, oldestAgeSeconds: metricOutbox.oldestAgeSeconds } : null;
  const lags = second.lag.filter((l) => l.consumer === service);
  const dlq = fromDb?.dlqDepth ?? second.dlq.find((d) => d.consumer === service)?.depth ?? null;
  const latency = percentilesOf(latencyIncreases(inputs.first, second).filter((s) => s.consumer === service).map((s) => s.buckets));
  const active = new Set(summary.throughput.filter((t) => t.publishedPerSecond > 0).map((t) => t.topic));
  const fresh = second.freshness.filter((f) => f.consumer === service && active.has(f.topic)).map((f) => f.seconds);
  const answering = inputs.urls.length === 0 ? null : inputs.urls.some((url) => inputs.answered(url));

  const problems: string[] = [];
  const states: string[] = [];
  if (answering === false) {
    states.push('down');
    const why = (url: string): string => {
      const error = inputs.failedUrls.get(url.replace(/\/+$/, ''));
      return error ? ` (${error})` : '';
    };
    problems.push(inputs.urls.length === 1
      ? `its process at ${inputs.urls[0]} does not answer${why(inputs.urls[0]!)}`
      : `none of its processes answers: ${inputs.urls.map((url) => `${url}${why(url)}`).join(', ')}`);
  }
  if (latency.p95 !== null && latency.p95 > sla) states.push('slow');
  if (dlq !== null && dlq > 0) states.push('dead letters');
  if (latency.p95 !== null && latency.p95 > sla) problems.push(`P95 sync latency ${formatLatency(latency.p95)} is above the SLA of ${formatLatency(sla, false)}`);
  if (dlq !== null && dlq > 0) problems.push(`${dlq} dead letter${dlq === 1 ? '' : 's'} waiting (datasync dlq list --schema ${service})`);
  return {
    service, answering, outbox,
    lag: lags.length === 0 ? null : lags.reduce((sum, l) => sum + l.lag, 0),
    dlqDepth: dlq, latency,
    freshnessSeconds: fresh.length === 0 ? null : Math.max(...fresh),
    state: states.length === 0 ? 'ok' : states.join(', '),
    problems,
  };
}

/** Events per second over the window: published, and settled by outcome (every topic and consumer). */
function totalsOf(summary: SyncSummary): { publishedPerSecond: number; consumedPerSecond: Record<ConsumedOutcome, number> } {
  const consumed: Record<ConsumedOutcome, number> = { applied: 0, duplicate: 0, stale: 0, retried: 0, dead_lettered: 0 };
  let published = 0;
  for (const t of summary.throughput) {
    published += t.publishedPerSecond;
    for (const outcome of Object.keys(consumed) as ConsumedOutcome[]) consumed[outcome] += t.consumedPerSecond[outcome];
  }
  return { publishedPerSecond: published, consumedPerSecond: consumed };
}

/**
 * `0.8 ms`, `37 ms`, `1.24 s`; a measured latency at the histogram's largest bucket or beyond is
 * `≥ 5 s` (the buckets cannot tell more), unless `measured` is false (a target).
 */
export function formatLatency(seconds: number, measured = true): string {
  const largest = SYNC_LATENCY_BUCKETS.at(-1)!;
  if (measured && seconds >= largest) return `≥ ${largest} s`;
  if (seconds < 0.01) return `${(seconds * 1_000).toFixed(1)} ms`;
  if (seconds < 1) return `${Math.round(seconds * 1_000)} ms`;
  return measured ? `${seconds.toFixed(2)} s` : `${Number(seconds.toFixed(2))} s`;
}

function rate(perSecond: number): string {
  return perSecond >= 100 ? `${Math.round(perSecond)}/s` : `${perSecond.toFixed(1)}/s`;
}

function printStatus(output: Output, view: {
  services: readonly ServiceHealth[]; summary: SyncSummary; totals: ReturnType<typeof totalsOf>; sla: number; processes: number; problems: readonly string[];
}): void {
  const { services, summary, totals, sla } = view;
  const dash = '-';
  const measured = view.processes === 0 ? 'from the database only' : `${view.processes} process${view.processes === 1 ? '' : 'es'} · measured over ${summary.windowSeconds.toFixed(1)} s`;
  output.line(`${output.style('datasync status', 'bold')}  ${services.length} service${services.length === 1 ? '' : 's'}, ${measured} · P95 SLA ${formatLatency(sla, false)}`);
  output.line();
  const breach = (bad: boolean, warn = false): Style | undefined => (bad ? 'red' : warn ? 'yellow' : undefined);
  const columns: Column<ServiceHealth>[] = [
    { header: 'SERVICE', value: (s) => s.service, style: (s) => (s.problems.length > 0 ? 'red' : undefined) },
    { header: 'STATE', value: (s) => s.state, style: (s) => (s.problems.length > 0 ? 'red' : 'green') },
    { header: 'OUTBOX', value: (s) => (s.outbox ? String(s.outbox.pending) : dash), style: (s) => breach(false, (s.outbox?.pending ?? 0) > 0) },
    { header: 'OLDEST', value: (s) => (s.outbox?.oldestAgeSeconds ? formatDuration(s.outbox.oldestAgeSeconds) : dash), style: (s) => breach(false, (s.outbox?.oldestAgeSeconds ?? 0) > 5) },
    { header: 'LAG', value: (s) => (s.lag === null ? dash : String(s.lag)), style: (s) => breach(false, (s.lag ?? 0) > 0) },
    { header: 'DLQ', value: (s) => (s.dlqDepth === null ? dash : String(s.dlqDepth)), style: (s) => breach((s.dlqDepth ?? 0) > 0) },
    { header: 'P95', value: (s) => (s.latency.p95 === null ? dash : formatLatency(s.latency.p95)), style: (s) => breach(s.latency.p95 !== null && s.latency.p95 > sla) },
    { header: 'APPLIED', value: (s) => (s.latency.count === 0 ? dash : String(s.latency.count)) },
    { header: 'FRESHNESS', value: (s) => (s.freshnessSeconds === null ? dash : formatDuration(s.freshnessSeconds)) },
  ];
  output.table(columns, services);
  output.line();
  const c = totals.consumedPerSecond;
  output.line(`throughput  ${rate(totals.publishedPerSecond)} published · ${rate(c.applied)} applied · ${rate(c.duplicate)} duplicate · ${rate(c.stale)} stale · ${rate(c.retried)} retried · ${rate(c.dead_lettered)} dead-lettered`);
  const overall = summary.latency.overall;
  output.line(`latency     ${overall.count === 0 ? 'no event applied in the window' : `p50 ${formatLatency(overall.p50!)} · p95 ${formatLatency(overall.p95!)} · p99 ${formatLatency(overall.p99!)} over ${overall.count} applied events`}`);
  output.line();
  if (view.problems.length === 0) {
    output.line(output.style('healthy', 'green'));
  } else {
    output.line(output.style(`unhealthy: ${view.problems.length} problem${view.problems.length === 1 ? '' : 's'}`, 'red'));
    for (const problem of view.problems) output.line(`  ${output.style('✗', 'red')} ${problem}`);
  }
}
