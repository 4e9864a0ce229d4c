import type { Registry } from 'prom-client';
import { untilAborted } from '../core/abort.js';
import { metricsRegistry } from './metrics.js';
import type { CircuitStateName, ConsumedOutcome } from './sync-metrics.js';

/**
 * Readings of the sync metrics (DESIGN.md section 3) for the built-in dashboard and
 * `datasync status`: read prom-client's JSON (`registry.getMetricsAsJSON()`, or
 * `GET <url>/platform/metrics.json` of each platform process), merge the processes into one
 * {@link MetricsSnapshot}, and {@link summarize} two snapshots into rates and latency
 * percentiles over the time between them, the way PromQL's `sum(rate(…))` and
 * `histogram_quantile` would over that window: each process's counters are kept apart in the
 * snapshot ({@link MetricsSnapshot.bySource}), their increases are taken per process and then
 * summed, so a process missing from one reading (a timeout, a restart) is not mistaken for a
 * reset of the sum. Everything but {@link readSnapshot} is a pure function.
 */

/** One metric as prom-client's `getMetricsAsJSON()` returns it (the fields read here). */
export interface MetricJson {
  readonly name: string;
  readonly type: string;
  readonly values: readonly {
    readonly value: number;
    readonly labels: Readonly<Record<string, string | number>>;
    /** `<name>_bucket`, `<name>_sum`, `<name>_count` for a histogram's values. */
    readonly metricName?: string;
  }[];
}

/** Where metrics are read: this process's registry or another process's `/platform/metrics.json`. */
export interface MetricsSource {
  /** For messages: `this process` or the process's URL. */
  readonly name: string;
  read(signal?: AbortSignal): Promise<readonly MetricJson[]>;
}

/** How long a remote process may take to answer one reading. */
export const DEFAULT_SOURCE_TIMEOUT_MS = 2_000;

/** The 500 ms P95 sync latency SLA of the seed, in seconds. */
export const DEFAULT_SLA_SECONDS = 0.5;

/**
 * The metrics of a prom-client registry of this process (default datasync's {@link metricsRegistry}),
 * read with a timeout like {@link urlSource}: a gauge's `collect` queries a database or broker,
 * which may not answer.
 */
export function registrySource(registry: Registry = metricsRegistry, name = 'this process', timeoutMs: number = DEFAULT_SOURCE_TIMEOUT_MS): MetricsSource {
  return {
    name,
    async read(signal) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const metrics = registry.getMetricsAsJSON() as Promise<unknown> as Promise<MetricJson[]>;
      return untilAborted(metrics, signal ? AbortSignal.any([signal, timeout]) : timeout);
    },
  };
}

/** The metrics another process serves at `<url>/platform/metrics.json`, read with a timeout. */
export function urlSource(url: string, timeoutMs: number = DEFAULT_SOURCE_TIMEOUT_MS): MetricsSource {
  const base = normalizeUrl(url);
  return {
    name: base,
    async read(signal) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const response = await fetch(`${base}/platform/metrics.json`, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      if (!response.ok) throw new Error(`${base}/platform/metrics.json answered ${response.status}`);
      const body: unknown = await response.json();
      if (!Array.isArray(body)) throw new Error(`${base}/platform/metrics.json did not answer prom-client's JSON (an array of metrics)`);
      return body as MetricJson[];
    },
  };
}

/**
 * One source per distinct URL (one process hosts several services and registers its URL once
 * per service; `http://h:1/` and `http://h:1` are the same).
 */
export function urlSources(urls: Iterable<string>, timeoutMs: number = DEFAULT_SOURCE_TIMEOUT_MS): MetricsSource[] {
  return [...new Set([...urls].map(normalizeUrl))].map((url) => urlSource(url, timeoutMs));
}

function normalizeUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** One latency histogram series: cumulative bucket counts, ascending, the last one `le = Infinity`. */
export interface LatencySeries {
  readonly topic: string;
  readonly consumer: string;
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly sum: number;
  readonly count: number;
}

/** The counters and latency histograms of one source of a reading, as that process reported them. */
export interface SourceCounters {
  /** When it was read, epoch ms. */
  readonly at: number;
  readonly published: MetricsSnapshot['published'];
  readonly consumed: MetricsSnapshot['consumed'];
  readonly latency: readonly LatencySeries[];
}

/** Counters and histograms without their reading time: a sum of several sources, or an increase. */
type Counters = Pick<SourceCounters, 'published' | 'consumed' | 'latency'>;

/** Every sync metric of one moment, from one process or merged from several. */
export interface MetricsSnapshot {
  /** When it was read, epoch ms. */
  readonly at: number;
  /** Sources that answered. */
  readonly answered: readonly string[];
  /** Sources that did not, and why. */
  readonly failed: readonly { readonly source: string; readonly error: string }[];
  readonly published: readonly { readonly topic: string; readonly service: string; readonly value: number }[];
  readonly consumed: readonly { readonly topic: string; readonly consumer: string; readonly outcome: string; readonly value: number }[];
  readonly latency: readonly LatencySeries[];
  readonly outbox: readonly { readonly service: string; readonly pending: number; readonly oldestAgeSeconds: number | null }[];
  readonly dlq: readonly { readonly consumer: string; readonly depth: number }[];
  readonly lag: readonly { readonly topic: string; readonly consumer: string; readonly lag: number }[];
  readonly freshness: readonly { readonly topic: string; readonly consumer: string; readonly seconds: number }[];
  /** 0 closed, 1 half-open, 2 open. */
  readonly circuits: readonly { readonly circuit: string; readonly state: number }[];
  readonly caches: readonly { readonly cache: string; readonly hits: number; readonly misses: number; readonly invalidations: number }[];
  /**
   * Each answering source's own counters and histograms, by source name (`this process`, a URL):
   * {@link summarize} takes their increases per source and sums those (`sum(rate(…))`), never the
   * increase of the sums above.
   */
  readonly bySource: ReadonlyMap<string, SourceCounters>;
}

const METRIC = {
  latency: 'datasync_sync_latency_seconds',
  published: 'datasync_events_published_total',
  consumed: 'datasync_events_consumed_total',
  outboxPending: 'datasync_outbox_pending',
  outboxAge: 'datasync_outbox_oldest_age_seconds',
  dlq: 'datasync_dlq_depth',
  lag: 'datasync_consumer_lag',
  freshness: 'datasync_data_freshness_seconds',
  circuit: 'datasync_circuit_state',
  cacheHits: 'datasync_cache_hits_total',
  cacheMisses: 'datasync_cache_misses_total',
  cacheInvalidations: 'datasync_cache_invalidations_total',
} as const;

/** An empty snapshot at `at` (no source answered yet). */
export function emptySnapshot(at: number = Date.now()): MetricsSnapshot {
  return { at, answered: [], failed: [], published: [], consumed: [], latency: [], outbox: [], dlq: [], lag: [], freshness: [], circuits: [], caches: [], bySource: new Map() };
}

/** The snapshot of one process's metrics JSON, read at `at`. */
export function snapshotOf(metrics: readonly MetricJson[], at: number = Date.now(), source = 'this process'): MetricsSnapshot {
  const byName = new Map(metrics.map((metric) => [metric.name, metric]));
  const values = (name: string) => byName.get(name)?.values ?? [];
  const label = (labels: Readonly<Record<string, string | number>>, name: string): string => String(labels[name] ?? '');

  const latency = new Map<string, { topic: string; consumer: string; buckets: Map<number, number>; sum: number; count: number }>();
  for (const v of values(METRIC.latency)) {
    const topic = label(v.labels, 'topic');
    const consumer = label(v.labels, 'consumer');
    const key = seriesKey(topic, consumer);
    let series = latency.get(key);
    if (!series) latency.set(key, (series = { topic, consumer, buckets: new Map(), sum: 0, count: 0 }));
    if (v.metricName?.endsWith('_bucket')) series.buckets.set(parseLe(v.labels.le), v.value);
    else if (v.metricName?.endsWith('_sum')) series.sum = v.value;
    else if (v.metricName?.endsWith('_count')) series.count = v.value;
  }

  const pending = new Map(values(METRIC.outboxPending).map((v) => [label(v.labels, 'service'), v.value]));
  const ages = new Map(values(METRIC.outboxAge).map((v) => [label(v.labels, 'service'), v.value]));
  const cacheField = (name: string) => new Map(values(name).map((v) => [label(v.labels, 'cache'), v.value]));
  const [hits, misses, invalidations] = [cacheField(METRIC.cacheHits), cacheField(METRIC.cacheMisses), cacheField(METRIC.cacheInvalidations)];

  const counters: SourceCounters = {
    at,
    published: values(METRIC.published).map((v) => ({ topic: label(v.labels, 'topic'), service: label(v.labels, 'service'), value: v.value })),
    consumed: values(METRIC.consumed).map((v) => ({ topic: label(v.labels, 'topic'), consumer: label(v.labels, 'consumer'), outcome: label(v.labels, 'outcome'), value: v.value })),
    latency: [...latency.values()].map((s) => ({
      topic: s.topic, consumer: s.consumer, sum: s.sum, count: s.count,
      buckets: [...s.buckets.entries()].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count })),
    })),
  };
  return {
    at, answered: [source], failed: [],
    published: counters.published, consumed: counters.consumed, latency: counters.latency,
    outbox: [...new Set([...pending.keys(), ...ages.keys()])].map((service) => ({ service, pending: pending.get(service) ?? 0, oldestAgeSeconds: ages.get(service) ?? null })),
    dlq: values(METRIC.dlq).map((v) => ({ consumer: label(v.labels, 'consumer'), depth: v.value })),
    lag: values(METRIC.lag).map((v) => ({ topic: label(v.labels, 'topic'), consumer: label(v.labels, 'consumer'), lag: v.value })),
    freshness: values(METRIC.freshness).map((v) => ({ topic: label(v.labels, 'topic'), consumer: label(v.labels, 'consumer'), seconds: v.value })),
    circuits: values(METRIC.circuit).map((v) => ({ circuit: label(v.labels, 'circuit'), state: v.value })),
    caches: [...new Set([...hits.keys(), ...misses.keys(), ...invalidations.keys()])].map((cache) => ({
      cache, hits: hits.get(cache) ?? 0, misses: misses.get(cache) ?? 0, invalidations: invalidations.get(cache) ?? 0,
    })),
    bySource: new Map([[source, counters]]),
  };
}

function parseLe(le: string | number | undefined): number {
  if (typeof le === 'number') return le;
  if (le === '+Inf' || le === undefined) return Infinity;
  return Number(le);
}

function seriesKey(...parts: readonly string[]): string {
  return parts.join('\u0000');
}

/**
 * One snapshot of several processes: counters and histogram buckets are summed (each process
 * counts what it did) and also kept per process in `bySource`; gauges read from a database or
 * broker (outbox backlog, dead-letter depth, consumer lag), which several processes may report
 * for the same labels, take the largest; freshness takes the smallest (the process that applied
 * the newest event knows best); a circuit the worst state. `at` defaults to the latest of the
 * snapshots.
 */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[], at?: number): MetricsSnapshot {
  const all = <T>(pick: (s: MetricsSnapshot) => readonly T[]): T[] => snapshots.flatMap(pick);
  const sources = new Map<string, SourceCounters[]>();
  for (const [name, counters] of snapshots.flatMap((s) => [...s.bySource])) sources.set(name, [...(sources.get(name) ?? []), counters]);
  return {
    at: at ?? Math.max(0, ...snapshots.map((s) => s.at)),
    answered: all((s) => s.answered),
    failed: all((s) => s.failed),
    ...sumCounters(snapshots),
    outbox: mergeRows(all((s) => s.outbox), (r) => r.service, ['pending', 'oldestAgeSeconds'], Math.max),
    dlq: mergeRows(all((s) => s.dlq), (r) => r.consumer, ['depth'], Math.max),
    lag: mergeRows(all((s) => s.lag), (r) => seriesKey(r.topic, r.consumer), ['lag'], Math.max),
    freshness: mergeRows(all((s) => s.freshness), (r) => seriesKey(r.topic, r.consumer), ['seconds'], Math.min),
    circuits: mergeRows(all((s) => s.circuits), (r) => r.circuit, ['state'], Math.max),
    caches: mergeRows(all((s) => s.caches), (r) => r.cache, ['hits', 'misses', 'invalidations'], sum),
    // two sources of one name (two registries both `this process`) are summed into one
    bySource: new Map([...sources].map(([name, list]) => [name, list.length === 1 ? list[0]! : { at: Math.max(...list.map((c) => c.at)), ...sumCounters(list) }])),
  };
}

const sum = (a: number, b: number): number => a + b;

/** Rows with the same key merged into one, each of `fields` combined with `pick`. */
function mergeRows<T, K extends keyof T>(rows: readonly T[], keyOf: (row: T) => string, fields: readonly K[], pick: (a: number, b: number) => number): T[] {
  const out = new Map<string, T>();
  for (const row of rows) {
    const key = keyOf(row);
    const seen = out.get(key);
    if (!seen) {
      out.set(key, { ...row });
      continue;
    }
    for (const field of fields) (seen as Record<K, unknown>)[field] = combine(seen[field] as number | null, row[field] as number | null, pick);
  }
  return [...out.values()];
}

/** Counters and histograms of several sources (or of their increases) summed per series. */
function sumCounters(list: readonly Counters[]): Counters {
  return {
    published: mergeRows(list.flatMap((c) => c.published), (r) => seriesKey(r.topic, r.service), ['value'], sum),
    consumed: mergeRows(list.flatMap((c) => c.consumed), (r) => seriesKey(r.topic, r.consumer, r.outcome), ['value'], sum),
    latency: mergeLatency(list.flatMap((c) => c.latency)),
  };
}

function combine(a: number | null, b: number | null, pick: (a: number, b: number) => number): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return pick(a, b);
}

/** Sums latency series of the same (topic, consumer) from several processes. */
function mergeLatency(series: readonly LatencySeries[]): LatencySeries[] {
  const groups = new Map<string, LatencySeries[]>();
  for (const s of series) {
    const key = seriesKey(s.topic, s.consumer);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  return [...groups.values()].map((group) => ({
    topic: group[0]!.topic, consumer: group[0]!.consumer,
    buckets: sumBuckets(group.map((s) => s.buckets)),
    sum: group.reduce((total, s) => total + s.sum, 0),
    count: group.reduce((total, s) => total + s.count, 0),
  }));
}

/**
 * Adds cumulative bucket lists. With equal bounds (always, for one metric) this is a plain sum
 * per bound; with different ones each list counts, at every bound, what it has at or below it.
 */
function sumBuckets(lists: readonly (readonly { le: number; count: number }[])[]): { le: number; count: number }[] {
  const bounds = [...new Set(lists.flatMap((list) => list.map((b) => b.le)))].sort((a, b) => a - b);
  return bounds.map((le) => ({ le, count: lists.reduce((total, list) => total + cumulativeAt(list, le), 0) }));
}

function cumulativeAt(list: readonly { le: number; count: number }[], le: number): number {
  let count = 0;
  for (const bucket of list) {
    if (bucket.le > le) break;
    count = bucket.count;
  }
  return count;
}

/**
 * Reads every source at once and merges what answered ({@link mergeSnapshots}); a source that
 * fails or times out is listed in `failed` and left out, never failing the reading. Once
 * `signal` aborts, every source still reading counts as not answering in time (a source that
 * ignores the signal is abandoned), so the reading always ends.
 */
export async function readSnapshot(sources: readonly MetricsSource[], options: { signal?: AbortSignal } = {}): Promise<MetricsSnapshot> {
  const at = Date.now();
  const readings = await Promise.all(sources.map(async (source): Promise<MetricsSnapshot> => {
    try {
      const read = source.read(options.signal);
      return snapshotOf(await (options.signal ? untilAborted(read, options.signal) : read), at, source.name);
    } catch (error) {
      return { ...emptySnapshot(at), answered: [], failed: [{ source: source.name, error: describeReadError(error) }] };
    }
  }));
  return mergeSnapshots(readings, at);
}

function describeReadError(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'no answer in time';
  // fetch says only "fetch failed"; its cause says why (ECONNREFUSED, …)
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  const why = cause?.code ?? cause?.message;
  if (why) return `${(error as Error).message} (${why})`;
  return error instanceof Error ? error.message : String(error);
}

/** Latency percentiles in seconds over a window, null when no event was applied in it. */
export interface Percentiles {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  /** Applied events in the window. */
  readonly count: number;
}

/** Deliveries settled per second in a window, by outcome. */
export type OutcomeRates = Record<ConsumedOutcome, number>;

/** Two snapshots summarized: rates and latency over the time between them, gauges as of the later one. */
export interface SyncSummary {
  /** When the later snapshot was read, epoch ms. */
  readonly at: number;
  /** Seconds between the two snapshots (0 when they are the same reading: rates are then 0). */
  readonly windowSeconds: number;
  readonly latency: {
    readonly overall: Percentiles;
    readonly byConsumer: readonly (Percentiles & { readonly topic: string; readonly consumer: string })[];
  };
  /** Per topic: events published (acknowledged by the broker) and settled by its consumers, summed over them. */
  readonly throughput: readonly { readonly topic: string; readonly publishedPerSecond: number; readonly consumedPerSecond: OutcomeRates }[];
  readonly outbox: readonly { readonly service: string; readonly pending: number; readonly oldestAgeSeconds: number | null }[];
  readonly dlq: readonly { readonly consumer: string; readonly depth: number }[];
  readonly freshness: readonly { readonly consumer: string; readonly topic: string; readonly seconds: number }[];
  readonly lag: readonly { readonly topic: string; readonly consumer: string; readonly lag: number }[];
  readonly circuits: readonly { readonly circuit: string; readonly state: CircuitStateName }[];
  /** Since each cache opened; `hitRatio` null before the first read. */
  readonly caches: readonly { readonly cache: string; readonly hits: number; readonly misses: number; readonly invalidations: number; readonly hitRatio: number | null }[];
}

const OUTCOMES: readonly ConsumedOutcome[] = ['applied', 'duplicate', 'stale', 'retried', 'dead_lettered'];
const CIRCUIT_STATES: readonly CircuitStateName[] = ['closed', 'half_open', 'open'];

/**
 * What happened between `previous` and `current` (two readings of the same sources): events
 * published and consumed per second per topic, sync latency P50/P95/P99 from the histogram
 * buckets' increase (overall and per topic and consumer), and `current`'s gauges. Increases are
 * taken per source and then summed, as PromQL's `sum(rate(…))`: a source missing from either
 * reading (it did not answer) contributes nothing, and a counter of a source that went down (its
 * process restarted) counts from 0, as `rate` does. Without `previous`, rates are 0 and latency
 * covers every event `current` has counted.
 */
export function summarize(previous: MetricsSnapshot | undefined, current: MetricsSnapshot): SyncSummary {
  const windowSeconds = previous ? Math.max(0, (current.at - previous.at) / 1_000) : 0;

  const topics = new Map<string, { published: number; consumed: OutcomeRates }>();
  const topicOf = (topic: string) => {
    let entry = topics.get(topic);
    if (!entry) topics.set(topic, (entry = { published: 0, consumed: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as OutcomeRates }));
    return entry;
  };
  for (const p of current.published) topicOf(p.topic);
  for (const c of current.consumed) topicOf(c.topic);
  const increases = sourceIncreases(previous, current);
  for (const { seconds, increase } of increases) {
    // each source over the time between its own two readings (the same as the window's, unless a
    // caller paired readings of different moments per source)
    const perSecond = (value: number): number => (seconds > 0 ? value / seconds : 0);
    for (const p of increase.published) topicOf(p.topic).published += perSecond(p.value);
    for (const c of increase.consumed) {
      if ((OUTCOMES as readonly string[]).includes(c.outcome)) topicOf(c.topic).consumed[c.outcome as ConsumedOutcome] += perSecond(c.value);
    }
  }

  const latency = mergeLatency(increases.flatMap((i) => i.increase.latency));
  return {
    at: current.at,
    windowSeconds,
    latency: {
      overall: percentilesOf(latency.map((s) => s.buckets)),
      byConsumer: latency.map((s) => ({ topic: s.topic, consumer: s.consumer, ...percentilesOf([s.buckets]) }))
        .sort((a, b) => a.topic.localeCompare(b.topic) || a.consumer.localeCompare(b.consumer)),
    },
    throughput: [...topics.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([topic, t]) => ({
      topic, publishedPerSecond: t.published, consumedPerSecond: t.consumed,
    })),
    outbox: [...current.outbox].sort((a, b) => a.service.localeCompare(b.service)),
    dlq: [...current.dlq].sort((a, b) => a.consumer.localeCompare(b.consumer)),
    freshness: current.freshness.map((f) => ({ consumer: f.consumer, topic: f.topic, seconds: f.seconds }))
      .sort((a, b) => a.consumer.localeCompare(b.consumer) || a.topic.localeCompare(b.topic)),
    lag: [...current.lag].sort((a, b) => a.topic.localeCompare(b.topic) || a.consumer.localeCompare(b.consumer)),
    circuits: current.circuits.map((c) => ({ circuit: c.circuit, state: CIRCUIT_STATES[Math.min(2, Math.max(0, Math.round(c.state)))]! }))
      .sort((a, b) => a.circuit.localeCompare(b.circuit)),
    caches: current.caches.map((c) => ({ ...c, hitRatio: c.hits + c.misses > 0 ? c.hits / (c.hits + c.misses) : null }))
      .sort((a, b) => a.cache.localeCompare(b.cache)),
  };
}

/**
 * The increase of every source of `current` since `previous`, with the seconds between its two
 * readings. A source `previous` lacks is left out (what it did meanwhile is unknown); without
 * `previous` every source counts from 0, over 0 seconds.
 */
function sourceIncreases(previous: MetricsSnapshot | undefined, current: MetricsSnapshot): { seconds: number; increase: Counters }[] {
  const out: { seconds: number; increase: Counters }[] = [];
  for (const [name, now] of current.bySource) {
    const before = previous?.bySource.get(name);
    if (previous && !before) continue;
    out.push({ seconds: before ? Math.max(0, (now.at - before.at) / 1_000) : 0, increase: increaseOf(before, now) });
  }
  return out;
}

/** One source's counters and histograms increase from `before` (undefined: every series is new) to `now`. */
function increaseOf(before: SourceCounters | undefined, now: SourceCounters): Counters {
  const published = new Map((before?.published ?? []).map((p) => [seriesKey(p.topic, p.service), p.value]));
  const consumed = new Map((before?.consumed ?? []).map((c) => [seriesKey(c.topic, c.consumer, c.outcome), c.value]));
  const latency = new Map((before?.latency ?? []).map((s) => [seriesKey(s.topic, s.consumer), s]));
  return {
    published: now.published.map((p) => ({ ...p, value: counterIncrease(published.get(seriesKey(p.topic, p.service)), p.value) })),
    consumed: now.consumed.map((c) => ({ ...c, value: counterIncrease(consumed.get(seriesKey(c.topic, c.consumer, c.outcome)), c.value) })),
    latency: now.latency.map((series) => seriesIncrease(latency.get(seriesKey(series.topic, series.consumer)), series)),
  };
}

/** The increase of a counter from `before` (undefined: the series is new) to `now`; a reset counts from 0. */
function counterIncrease(before: number | undefined, now: number): number {
  if (before === undefined || now < before) return now;
  return now - before;
}

/** A latency series' bucket increase from `old` (undefined: the series is new); a series that went down counts from 0. */
function seriesIncrease(old: LatencySeries | undefined, series: LatencySeries): LatencySeries {
  if (!old) return series;
  const buckets = series.buckets.map((b) => ({ le: b.le, count: b.count - cumulativeAt(old.buckets, b.le) }));
  if (series.count < old.count || buckets.some((b) => b.count < 0)) return series; // reset: the process restarted
  return { ...series, buckets, sum: series.sum - old.sum, count: series.count - old.count };
}

/**
 * Each latency series' bucket increase between the two snapshots, taken per source and summed
 * per (topic, consumer) as in {@link summarize}.
 */
export function latencyIncreases(previous: MetricsSnapshot | undefined, current: MetricsSnapshot): LatencySeries[] {
  return mergeLatency(sourceIncreases(previous, current).flatMap((i) => i.increase.latency));
}

/** P50, P95 and P99 of the summed cumulative bucket lists (e.g. the increases of several series). */
export function percentilesOf(bucketLists: readonly (readonly { le: number; count: number }[])[]): Percentiles {
  const buckets = sumBuckets(bucketLists);
  return {
    p50: histogramQuantile(0.5, buckets), p95: histogramQuantile(0.95, buckets), p99: histogramQuantile(0.99, buckets),
    count: buckets.at(-1)?.count ?? 0,
  };
}

/**
 * The `q` quantile (0–1) of cumulative buckets (ascending `le`, the last `Infinity`) as PromQL's
 * `histogram_quantile` computes it: linear interpolation inside the bucket the rank falls in
 * (from 0 in the first bucket), the largest finite bound when it falls in the `+Inf` bucket,
 * null when the buckets are empty.
 */
export function histogramQuantile(q: number, buckets: readonly { le: number; count: number }[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0 || sorted.length === 0) return null;
  const rank = q * total;
  const index = sorted.findIndex((b) => b.count >= rank);
  const bucket = sorted[index]!;
  if (!Number.isFinite(bucket.le)) {
    const finite = sorted.filter((b) => Number.isFinite(b.le));
    return finite.at(-1)?.le ?? null;
  }
  const start = index === 0 ? 0 : sorted[index - 1]!.le;
  const below = index === 0 ? 0 : sorted[index - 1]!.count;
  const inBucket = bucket.count - below;
  if (inBucket <= 0) return bucket.le;
  return start + (bucket.le - start) * ((rank - below) / inBucket);
}
