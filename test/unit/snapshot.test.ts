import { Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  emptySnapshot, histogramQuantile, latencyIncreases, mergeSnapshots, readSnapshot, registrySource, snapshotOf, summarize, urlSources,
  type MetricJson, type MetricsSnapshot,
} from '../../src/observability/snapshot.js';
import { SYNC_LATENCY_BUCKETS, SyncMetrics } from '../../src/observability/sync-metrics.js';

const BOUNDS = [...SYNC_LATENCY_BUCKETS, Infinity];

/** prom-client's JSON of one latency series with `counts[i]` samples in bucket i (not cumulative). */
function latencyJson(topic: string, consumer: string, counts: Record<number, number>): MetricJson['values'] {
  let cumulative = 0;
  const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = BOUNDS.map((le) => {
    cumulative += counts[le] ?? 0;
    return { value: cumulative, labels: { le: le === Infinity ? '+Inf' : le, topic, consumer }, metricName: 'datasync_sync_latency_seconds_bucket' };
  });
  values.push({ value: 0, labels: { topic, consumer }, metricName: 'datasync_sync_latency_seconds_sum' });
  values.push({ value: cumulative, labels: { topic, consumer }, metricName: 'datasync_sync_latency_seconds_count' });
  return values;
}

function processJson(parts: {
  latency?: MetricJson['values']; published?: number; applied?: number; outbox?: number; dlq?: number; lag?: number; freshness?: number; circuit?: number; hits?: number;
}): MetricJson[] {
  const gauge = (name: string, labels: Record<string, string>, value: number | undefined): MetricJson => ({ name, type: 'gauge', values: value === undefined ? [] : [{ value, labels }] });
  return [
    { name: 'datasync_sync_latency_seconds', type: 'histogram', values: parts.latency ?? [] },
    gauge('datasync_events_published_total', { topic: 'catalog.product.updated', service: 'catalog' }, parts.published),
    gauge('datasync_events_consumed_total', { topic: 'catalog.product.updated', consumer: 'search', outcome: 'applied' }, parts.applied),
    gauge('datasync_outbox_pending', { service: 'catalog' }, parts.outbox),
    gauge('datasync_outbox_oldest_age_seconds', { service: 'catalog' }, parts.outbox === undefined ? undefined : parts.outbox * 2),
    gauge('datasync_dlq_depth', { consumer: 'search' }, parts.dlq),
    gauge('datasync_consumer_lag', { topic: 'catalog.product.updated', consumer: 'search' }, parts.lag),
    gauge('datasync_data_freshness_seconds', { topic: 'catalog.product.updated', consumer: 'search' }, parts.freshness),
    gauge('datasync_circuit_state', { circuit: 'platform→search' }, parts.circuit),
    gauge('datasync_cache_hits_total', { cache: 'gateway/products' }, parts.hits),
    gauge('datasync_cache_misses_total', { cache: 'gateway/products' }, parts.hits === undefined ? undefined : 1),
  ];
}

describe('histogramQuantile', () => {
  const cumulative = (counts: Record<number, number>) => {
    let total = 0;
    return BOUNDS.map((le) => ({ le, count: (total += counts[le] ?? 0) }));
  };

  it('interpolates inside the bucket the rank falls in', () => {
    const buckets = cumulative({ 0.025: 100 }); // 100 samples between 10 and 25 ms
    const p95 = histogramQuantile(0.95, buckets)!;
    expect(p95).toBeGreaterThan(0.01);
    expect(p95).toBeLessThanOrEqual(0.025);
    expect(p95).toBeCloseTo(0.01 + 0.015 * 0.95, 10);
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.0175, 10);
  });

  it('starts the first bucket at 0, caps at the largest finite bound, and is null without samples', () => {
    expect(histogramQuantile(0.5, cumulative({ 0.001: 10 }))).toBeCloseTo(0.0005, 10);
    expect(histogramQuantile(0.99, cumulative({ 0.01: 50, [Infinity]: 50 }))).toBe(5);
    expect(histogramQuantile(0.5, cumulative({}))).toBeNull();
    expect(histogramQuantile(0.5, [])).toBeNull();
  });

  it('takes the bucket the rank reaches across two buckets', () => {
    const buckets = cumulative({ 0.01: 90, 0.5: 10 });
    expect(histogramQuantile(0.5, buckets)!).toBeLessThanOrEqual(0.01);
    expect(histogramQuantile(0.95, buckets)!).toBeGreaterThan(0.25);
    expect(histogramQuantile(0.95, buckets)!).toBeLessThanOrEqual(0.5);
  });
});

describe('snapshotOf and mergeSnapshots', () => {
  it('reads every metric of the contract from prom-client JSON', () => {
    const snapshot = snapshotOf(processJson({ latency: latencyJson('catalog.product.updated', 'search', { 0.025: 3 }), published: 5, applied: 3, outbox: 2, dlq: 1, lag: 4, freshness: 0.7, circuit: 2, hits: 9 }), 1_000);
    expect(snapshot.published).toEqual([{ topic: 'catalog.product.updated', service: 'catalog', value: 5 }]);
    expect(snapshot.consumed).toEqual([{ topic: 'catalog.product.updated', consumer: 'search', outcome: 'applied', value: 3 }]);
    expect(snapshot.latency[0]!.count).toBe(3);
    expect(snapshot.latency[0]!.buckets.at(-1)).toEqual({ le: Infinity, count: 3 });
    expect(snapshot.outbox).toEqual([{ service: 'catalog', pending: 2, oldestAgeSeconds: 4 }]);
    expect(snapshot.dlq).toEqual([{ consumer: 'search', depth: 1 }]);
    expect(snapshot.lag).toEqual([{ topic: 'catalog.product.updated', consumer: 'search', lag: 4 }]);
    expect(snapshot.freshness).toEqual([{ topic: 'catalog.product.updated', consumer: 'search', seconds: 0.7 }]);
    expect(snapshot.circuits).toEqual([{ circuit: 'platform→search', state: 2 }]);
    expect(snapshot.caches).toEqual([{ cache: 'gateway/products', hits: 9, misses: 1, invalidations: 0 }]);
  });

  it('sums counters and buckets across processes, takes the max of database gauges, the min of freshness, the worst circuit', () => {
    const a = snapshotOf(processJson({ latency: latencyJson('catalog.product.updated', 'search', { 0.01: 4 }), published: 10, applied: 7, outbox: 3, dlq: 2, lag: 1, freshness: 5, circuit: 0, hits: 2 }), 1_000, 'a');
    const b = snapshotOf(processJson({ latency: latencyJson('catalog.product.updated', 'search', { 0.5: 6 }), published: 5, applied: 1, outbox: 1, dlq: 2, lag: 8, freshness: 0.5, circuit: 2, hits: 3 }), 1_200, 'b');
    const merged = mergeSnapshots([a, b]);
    expect(merged.at).toBe(1_200);
    expect(merged.answered).toEqual(['a', 'b']);
    expect(merged.published[0]!.value).toBe(15);
    expect(merged.consumed[0]!.value).toBe(8);
    expect(merged.latency).toHaveLength(1);
    expect(merged.latency[0]!.count).toBe(10);
    expect(merged.latency[0]!.buckets.find((x) => x.le === 0.01)!.count).toBe(4);
    expect(merged.latency[0]!.buckets.at(-1)!.count).toBe(10);
    expect(merged.outbox).toEqual([{ service: 'catalog', pending: 3, oldestAgeSeconds: 6 }]);
    expect(merged.dlq).toEqual([{ consumer: 'search', depth: 2 }]);
    expect(merged.lag[0]!.lag).toBe(8);
    expect(merged.freshness[0]!.seconds).toBe(0.5);
    expect(merged.circuits[0]!.state).toBe(2);
    expect(merged.caches[0]).toEqual({ cache: 'gateway/products', hits: 5, misses: 2, invalidations: 0 });
  });
});

describe('summarize', () => {
  const at = (ms: number, parts: Parameters<typeof processJson>[0]): MetricsSnapshot => snapshotOf(processJson(parts), ms);

  it('gives rates per second and percentiles over the window from the increase only', () => {
    const before = at(0, { latency: latencyJson('catalog.product.updated', 'search', { 2.5: 1_000 }), published: 100, applied: 100, dlq: 0 });
    const after = at(10_000, { latency: latencyJson('catalog.product.updated', 'search', { 2.5: 1_000, 0.025: 100 }), published: 150, applied: 200, dlq: 3 });
    const summary = summarize(before, after);
    expect(summary.windowSeconds).toBe(10);
    expect(summary.throughput).toEqual([{
      topic: 'catalog.product.updated', publishedPerSecond: 5,
      consumedPerSecond: { applied: 10, duplicate: 0, stale: 0, retried: 0, dead_lettered: 0 },
    }]);
    // the 1,000 slow events happened before the window: only the 100 in 10–25 ms count
    expect(summary.latency.overall.count).toBe(100);
    expect(summary.latency.overall.p95).toBeGreaterThan(0.01);
    expect(summary.latency.overall.p95).toBeLessThanOrEqual(0.025);
    expect(summary.latency.byConsumer).toEqual([expect.objectContaining({ topic: 'catalog.product.updated', consumer: 'search', count: 100 })]);
    expect(summary.dlq).toEqual([{ consumer: 'search', depth: 3 }]);
  });

  it('has null percentiles and zero rates when nothing happened, and counts a reset counter from 0', () => {
    const quiet = at(0, { latency: latencyJson('t.a.b', 'c', { 0.01: 5 }), published: 50 });
    const same = summarize(quiet, { ...quiet, at: 1_000 });
    expect(same.latency.overall).toEqual({ p50: null, p95: null, p99: null, count: 0 });
    expect(same.throughput[0]!.publishedPerSecond).toBe(0);
    const restarted = at(2_000, { latency: latencyJson('t.a.b', 'c', { 0.1: 2 }), published: 4 });
    const afterRestart = summarize(quiet, restarted);
    expect(afterRestart.throughput[0]!.publishedPerSecond).toBe(2);
    expect(afterRestart.latency.overall.count).toBe(2);
    expect(afterRestart.latency.overall.p50).toBeGreaterThan(0.05);
  });

  /** One reading of processes a and b at `ms`: each given its metrics, or undefined when it did not answer. */
  const reading = (ms: number, processes: Record<'a' | 'b', Parameters<typeof processJson>[0] | undefined>): MetricsSnapshot => mergeSnapshots(
    Object.entries(processes).map(([source, parts]) => (parts === undefined
      ? { ...emptySnapshot(ms), failed: [{ source, error: 'no answer in time' }] }
      : snapshotOf(processJson(parts), ms, source))),
    ms,
  );
  const published = (summary: ReturnType<typeof summarize>): number => summary.throughput.find((t) => t.topic === 'catalog.product.updated')!.publishedPerSecond;
  const applied = (summary: ReturnType<typeof summarize>): number => summary.throughput.find((t) => t.topic === 'catalog.product.updated')!.consumedPerSecond.applied;
  const slow = (count: number) => latencyJson('catalog.product.updated', 'search', { 2.5: count });

  it('takes increases per process: one missing from a reading counts for nothing, and no spike when it is back', () => {
    // a and b each publish and apply 10 events a second; b misses the reading at 1 s
    const t0 = reading(0, { a: { published: 50_000, applied: 50_000, latency: slow(50_000) }, b: { published: 40_000, applied: 40_000, latency: slow(40_000) } });
    const t1 = reading(1_000, { a: { published: 50_010, applied: 50_010, latency: latencyJson('catalog.product.updated', 'search', { 2.5: 50_000, 0.01: 10 }) }, b: undefined });
    const t2 = reading(2_000, { a: { published: 50_020, applied: 50_020, latency: latencyJson('catalog.product.updated', 'search', { 2.5: 50_000, 0.01: 20 }) }, b: { published: 40_020, applied: 40_020, latency: slow(40_020) } });
    expect(t1.published[0]!.value).toBe(50_010); // the sum fell: b is missing, not reset
    const missing = summarize(t0, t1);
    expect(published(missing)).toBe(10);
    expect(applied(missing)).toBe(10);
    expect(missing.latency.overall.count).toBe(10);
    expect(missing.latency.overall.p95).toBeLessThanOrEqual(0.01);
    const back = summarize(t1, t2);
    expect(published(back)).toBe(10);
    expect(applied(back)).toBe(10);
    expect(back.latency.overall.count).toBe(10);
    expect(back.latency.overall.p95).toBeLessThanOrEqual(0.01); // b's slow events from before are not in the window
    expect(published(summarize(t0, t2))).toBe(20); // both, over the two seconds
  });

  it('counts the counters and buckets of a restarted process from 0, the others by their increase', () => {
    const before = reading(0, { a: { published: 50_000, latency: slow(50_000) }, b: { published: 40_000, latency: slow(40_000) } });
    // a restarted: 5 events since; b published 10 more
    const after = reading(1_000, { a: { published: 5, latency: latencyJson('catalog.product.updated', 'search', { 0.01: 5 }) }, b: { published: 40_010, latency: slow(40_010) } });
    const summary = summarize(before, after);
    expect(published(summary)).toBe(15);
    expect(summary.latency.overall.count).toBe(15);
    expect(latencyIncreases(before, after)).toEqual([expect.objectContaining({ topic: 'catalog.product.updated', consumer: 'search', count: 15 })]);
  });

  it('names circuit states and computes cache hit ratios', () => {
    const summary = summarize(undefined, at(0, { circuit: 1, hits: 3 }));
    expect(summary.windowSeconds).toBe(0);
    expect(summary.circuits).toEqual([{ circuit: 'platform→search', state: 'half_open' }]);
    expect(summary.caches[0]!.hitRatio).toBe(0.75);
  });
});

describe('readSnapshot', () => {
  it('reads a real registry and reports a source that does not answer without failing', async () => {
    const registry = new Registry();
    const metrics = SyncMetrics.for(registry);
    const now = Date.now();
    metrics.recordSettled('search', { topic: 'catalog.product.updated', outcome: 'applied', committedAtMs: now, event: { time: new Date(now - 20).toISOString() } as never });
    metrics.recordPublished('catalog', 'catalog.product.updated', 2);
    const sources = [registrySource(registry), ...urlSources(['http://127.0.0.1:9/', 'http://127.0.0.1:9'], 500)];
    expect(sources).toHaveLength(2); // the URL once
    const snapshot = await readSnapshot(sources);
    expect(snapshot.answered).toEqual(['this process']);
    expect(snapshot.failed.map((f) => f.source)).toEqual(['http://127.0.0.1:9']);
    expect(snapshot.published[0]!.value).toBe(2);
    expect(snapshot.latency[0]!.count).toBe(1);
  });

  it('gives up on a registry whose collect never answers after the timeout, and on any source once the signal aborts', async () => {
    const stuck = new Registry();
    new Gauge({ name: 'datasync_outbox_pending', help: 'stuck', labelNames: ['service'], registers: [stuck], collect: () => new Promise<void>(() => undefined) });
    const fine = new Registry();
    SyncMetrics.for(fine).recordPublished('catalog', 'catalog.product.updated', 3);
    const snapshot = await readSnapshot([registrySource(stuck, 'stuck', 50), registrySource(fine, 'fine')]);
    expect(snapshot.answered).toEqual(['fine']);
    expect(snapshot.failed).toEqual([{ source: 'stuck', error: 'no answer in time' }]);
    expect(snapshot.published[0]!.value).toBe(3);

    const neverAnswers = { name: 'never', read: () => new Promise<MetricJson[]>(() => undefined) };
    const aborted = await readSnapshot([neverAnswers, registrySource(fine, 'fine')], { signal: AbortSignal.timeout(50) });
    expect(aborted.answered).toEqual(['fine']);
    expect(aborted.failed).toEqual([{ source: 'never', error: 'no answer in time' }]);
  });
});
