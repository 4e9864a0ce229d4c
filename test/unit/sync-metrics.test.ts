import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createEnvelope } from '../../src/core/envelope.js';
import { SYNC_LATENCY_BUCKETS, SyncMetrics } from '../../src/observability/sync-metrics.js';
import type { SqlExecutor } from '../../src/postgres/sql.js';
import { createCircuitBreaker } from '../../src/resilience/circuit-breaker.js';

function event(timeMs: number, subject = 'p-1') {
  return { ...createEnvelope({ source: 'catalog', topic: 'catalog.product.updated', version: 1, data: { id: subject }, subject }), time: new Date(timeMs).toISOString() };
}

/** The value of one series in `text` (Prometheus exposition), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('SyncMetrics', () => {
  it('is one instance per registry', () => {
    const registry = new Registry();
    expect(SyncMetrics.for(registry)).toBe(SyncMetrics.for(registry));
    expect(SyncMetrics.for(new Registry())).not.toBe(SyncMetrics.for(registry));
  });

  it('buckets resolve 1 ms to 5 s', () => {
    expect(SYNC_LATENCY_BUCKETS[0]).toBe(0.001);
    expect(SYNC_LATENCY_BUCKETS.at(-1)).toBe(5);
    expect(SYNC_LATENCY_BUCKETS).toContain(0.5);
  });

  it('records latency and freshness for applied events and counts every outcome, without entity ids in labels', async () => {
    const registry = new Registry();
    const metrics = SyncMetrics.for(registry);
    const now = Date.now();
    metrics.recordSettled('search', { topic: 'catalog.product.updated', event: event(now - 20), outcome: 'applied', committedAtMs: now });
    metrics.recordSettled('search', { topic: 'catalog.product.updated', event: event(now - 5_000, 'p-2'), outcome: 'stale', committedAtMs: now });
    metrics.recordSettled('search', { topic: 'catalog.product.updated', event: event(now - 1, 'p-3'), outcome: 'duplicate', committedAtMs: now });
    metrics.recordRetry('search', 'catalog.product.updated');
    metrics.recordPublished('catalog', 'catalog.product.updated', 3);
    const text = await registry.metrics();
    expect(sample(text, `datasync_sync_latency_seconds_bucket{le="0.01",topic="catalog.product.updated",consumer="search"}`)).toBe(0);
    expect(sample(text, `datasync_sync_latency_seconds_bucket{le="0.025",topic="catalog.product.updated",consumer="search"}`)).toBe(1);
    expect(sample(text, `datasync_sync_latency_seconds_count{topic="catalog.product.updated",consumer="search"}`)).toBe(1);
    for (const outcome of ['applied', 'stale', 'duplicate', 'retried']) {
      expect(sample(text, `datasync_events_consumed_total{topic="catalog.product.updated",consumer="search",outcome="${outcome}"}`)).toBe(1);
    }
    expect(sample(text, 'datasync_events_published_total{topic="catalog.product.updated",service="catalog"}')).toBe(3);
    const freshness = sample(text, `datasync_data_freshness_seconds{topic="catalog.product.updated",consumer="search"}`);
    expect(freshness).toBeGreaterThanOrEqual(0.02);
    expect(freshness).toBeLessThan(5); // the stale event's older time does not count: only applied changes
    expect(text).not.toMatch(/p-[123]/);
  });

  it('keeps the newest applied event time per topic and consumer', async () => {
    const registry = new Registry();
    const metrics = SyncMetrics.for(registry);
    const now = Date.now();
    metrics.recordSettled('search', { topic: 't', event: event(now - 1_000), outcome: 'applied', committedAtMs: now });
    metrics.recordSettled('search', { topic: 't', event: event(now - 60_000), outcome: 'applied', committedAtMs: now }); // arrived late
    const freshness = sample(await registry.metrics(), 'datasync_data_freshness_seconds{topic="t",consumer="search"}');
    expect(freshness).toBeGreaterThanOrEqual(1);
    expect(freshness).toBeLessThan(30);
  });

  it('reads lag and cache counters at scrape time; lag goes when unwatched, cache counts stay', async () => {
    const registry = new Registry();
    const metrics = SyncMetrics.for(registry);
    let lag = 7;
    const unwatchLag = metrics.watchLag('search', ['t1', 't2'], async (topic) => (topic === 't1' ? lag : undefined));
    const stats = { hits: 4, misses: 1, invalidations: 2 };
    const unwatchCache = metrics.watchCache('gateway/products', { name: 'gateway:products', stats: () => stats });
    let text = await registry.metrics();
    expect(sample(text, 'datasync_consumer_lag{topic="t1",consumer="search"}')).toBe(7);
    expect(text).not.toContain('datasync_consumer_lag{topic="t2"'); // unknown to the broker: no series
    expect(sample(text, 'datasync_cache_hits_total{cache="gateway/products"}')).toBe(4);
    expect(sample(text, 'datasync_cache_misses_total{cache="gateway/products"}')).toBe(1);
    expect(sample(text, 'datasync_cache_invalidations_total{cache="gateway/products"}')).toBe(2);
    lag = 0;
    unwatchCache();
    unwatchLag();
    text = await registry.metrics();
    expect(text).not.toContain('datasync_consumer_lag{');
    // a counter never goes down: a closed cache's counts stay, and a new cache of that name adds to them
    expect(sample(text, 'datasync_cache_hits_total{cache="gateway/products"}')).toBe(4);
    metrics.watchCache('gateway/products', { name: 'gateway:products', stats: () => ({ hits: 1, misses: 0, invalidations: 0 }) });
    expect(sample(await registry.metrics(), 'datasync_cache_hits_total{cache="gateway/products"}')).toBe(5);
  });

  it('leaves out a source that fails and counts the failure, keeping the rest of the scrape', async () => {
    const registry = new Registry();
    const metrics = SyncMetrics.for(registry);
    const broken: SqlExecutor = { query: () => Promise.reject(new Error('connection refused')) };
    metrics.watchOutbox('catalog', broken);
    metrics.watchLag('search', ['t1'], async () => 3);
    const text = await registry.metrics();
    expect(text).not.toContain('datasync_outbox_pending{');
    expect(sample(text, 'datasync_metrics_collect_errors_total{source="outbox"}')).toBe(1);
    expect(sample(text, 'datasync_consumer_lag{topic="t1",consumer="search"}')).toBe(3);
  });

  it('leaves out a source that never answers, after its timeout', async () => {
    const registry = new Registry();
    const metrics = SyncMetrics.for(registry);
    metrics.watchLag('search', ['stuck'], () => new Promise(() => undefined));
    metrics.watchLag('gateway', ['t1'], async () => 2);
    const text = await registry.metrics();
    expect(text).not.toContain('datasync_consumer_lag{topic="stuck"');
    expect(sample(text, 'datasync_consumer_lag{topic="t1",consumer="gateway"}')).toBe(2);
    expect(sample(text, 'datasync_metrics_collect_errors_total{source="lag"}')).toBe(1);
  });

  it('drops a consumer\'s freshness once no consumer of that name runs here', async () => {
    const registry = new Registry();
    const metrics = SyncMetrics.for(registry);
    const first = metrics.watchConsumer('search');
    const second = metrics.watchConsumer('search');
    metrics.recordSettled('search', { topic: 't', event: event(Date.now() - 10), outcome: 'applied', committedAtMs: Date.now() });
    first();
    first(); // idempotent: the other instance still runs
    expect(await registry.metrics()).toContain('datasync_data_freshness_seconds{topic="t",consumer="search"}');
    second();
    expect(await registry.metrics()).not.toContain('datasync_data_freshness_seconds{');
  });

  it('reports a circuit breaker closed, then open after consecutive failures', async () => {
    const registry = new Registry();
    const metrics = SyncMetrics.for(registry);
    const circuit = createCircuitBreaker('platform→search', { failures: 2, halfOpenAfterMs: 60_000, metrics });
    expect(sample(await registry.metrics(), 'datasync_circuit_state{circuit="platform→search"}')).toBe(0);
    for (let i = 0; i < 2; i += 1) await expect(circuit.execute(() => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    await expect(circuit.execute(() => Promise.resolve('never called'))).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    expect(circuit.state).toBe('open');
    expect(sample(await registry.metrics(), 'datasync_circuit_state{circuit="platform→search"}')).toBe(2);
    circuit.close();
    expect(await registry.metrics()).not.toContain('datasync_circuit_state{');
  });
});
