import { describe, expect, it } from 'vitest';
import { createAdminApp, maskPii, MetricsHistory, PII_MASK } from '../../src/admin/index.js';
import type { MetricJson, MetricsSource } from '../../src/observability/snapshot.js';

describe('maskPii', () => {
  const pii = (schema: Record<string, unknown>) => ({ ...schema, 'x-pii': true });
  const schema = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      email: pii({ type: 'string' }),
      address: { type: 'object', properties: { city: pii({ type: 'string' }), country: { type: 'string' } } },
      phones: { type: 'array', items: pii({ type: 'string' }) },
      lines: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' }, note: pii({ type: 'string' }) } } },
      nickname: { anyOf: [pii({ type: 'string' }), { type: 'null' }] },
    },
  };

  it('masks every field the schema marks x-pii, deep in objects, arrays and anyOf branches, and nothing else', () => {
    const data = {
      id: 'c1', email: 'ada@example.com', address: { city: 'Berlin', country: 'DE' }, phones: ['+49 30 1', '+49 30 2'],
      lines: [{ sku: 'KET-1', note: 'ring twice' }], nickname: 'ada', extra: 'kept',
    };
    expect(maskPii(schema, data)).toEqual({
      id: 'c1', email: PII_MASK, address: { city: PII_MASK, country: 'DE' }, phones: [PII_MASK, PII_MASK],
      lines: [{ sku: 'KET-1', note: PII_MASK }], nickname: PII_MASK, extra: 'kept',
    });
    expect(data.email).toBe('ada@example.com'); // the input is not changed
  });

  it('keeps null and absent values, and returns data as is without a schema', () => {
    expect(maskPii(schema, { email: null })).toEqual({ email: null });
    expect(maskPii(undefined, { email: 'x' })).toEqual({ email: 'x' });
    expect(maskPii(pii({ type: 'object' }), { a: 1 })).toBe(PII_MASK);
  });
});

describe('createAdminApp without a database', () => {
  const admin = createAdminApp({ sources: [] });

  it('asks for confirmation before anything else, then says what is missing', async () => {
    const unconfirmed = await admin.app.request('/api/dlq/search/1/replay', { method: 'POST', body: '{}' });
    expect(unconfirmed.status).toBe(400);
    expect(await unconfirmed.json()).toEqual({ error: { code: 'CONFIRMATION_REQUIRED', message: expect.stringContaining('"confirm": true') as unknown, field: 'confirm' } });
    expect((await admin.app.request('/api/dlq/search/1/replay', { method: 'POST', body: 'not json' })).status).toBe(400);
    expect((await admin.app.request('/api/dlq/search/x1/discard', { method: 'POST', body: '{"confirm":true}' })).status).toBe(400);
    const noDatabase = await admin.app.request('/api/dlq/search/1/replay', { method: 'POST', body: '{"confirm":true}' });
    expect(noDatabase.status).toBe(501);
    expect((await admin.app.request('/api/dlq')).status).toBe(501);
    expect((await admin.app.request('/api/dlq?status=lost')).status).toBe(400);
    expect((await admin.app.request('/api/participation/run', { method: 'POST' })).status).toBe(501);
    expect(await (await admin.app.request('/api/participation')).json()).toMatchObject({ available: false, running: false, rows: [], columns: [] });
  });

  it('answers unknown routes with a JSON 404 and an empty overview before any event', async () => {
    const missing = await admin.app.request('/api/nothing');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const overview = await (await admin.app.request('/api/overview')).json() as { latency: { overall: unknown }; throughput: unknown[]; slaSeconds: number };
    expect(overview.slaSeconds).toBe(0.5);
    expect(overview.latency.overall).toEqual({ p50: null, p95: null, p99: null, count: 0 });
    expect(overview.throughput).toEqual([]);
    admin.close();
  });
});

describe('MetricsHistory', () => {
  /** A source whose published counter grows by 10 per reading. */
  function countingSource(): MetricsSource {
    let published = 0;
    return {
      name: 'counting',
      read: async (): Promise<MetricJson[]> => [{ name: 'datasync_events_published_total', type: 'counter', values: [{ value: (published += 10), labels: { topic: 't.a.b', service: 's' } }] }],
    };
  }

  it('records one point per reading after the first, with rates over the time between them', async () => {
    const source = countingSource();
    const history = new MetricsHistory({ sources: () => [source], capacity: 2 });
    await history.sample();
    expect(history.points(60)).toEqual([]);
    for (let i = 0; i < 3; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await history.sample();
    }
    const points = history.points(60);
    expect(points).toHaveLength(2); // capacity
    expect(points[0]!.at).toBeLessThanOrEqual(points[1]!.at);
    expect(points.every((p) => (p.publishedPerSecond['t.a.b'] ?? 0) > 0)).toBe(true);
    const summary = await history.summary();
    expect(summary.throughput[0]!.topic).toBe('t.a.b');
    history.close();
  });

  /** A source whose published counter is `value()` at each reading; undefined: it never answers. */
  function source(name: string, value: () => number | undefined): MetricsSource {
    return {
      name,
      read: (): Promise<MetricJson[]> => {
        const published = value();
        if (published === undefined) return new Promise(() => undefined);
        return Promise.resolve([{ name: 'datasync_events_published_total', type: 'counter', values: [{ value: published, labels: { topic: 't.a.b', service: name } }] }]);
      },
    };
  }
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

  it('goes on without a source that never answers, and abandons a reading whose sources never come', async () => {
    let readings = 0;
    let stuckList = false;
    const errors: unknown[] = [];
    const good = source('good', () => (readings += 1) * 10);
    const history = new MetricsHistory({
      sources: () => (stuckList ? new Promise<MetricsSource[]>(() => undefined) : [good, source('stuck', () => undefined)]),
      readingTimeoutMs: 50,
      onError: (error) => errors.push(error),
    });
    const first = await history.sample();
    expect(first.answered).toEqual(['good']);
    expect(first.failed).toEqual([{ source: 'stuck', error: 'no answer in time' }]);
    await tick();
    await history.sample();
    expect(history.points(60)).toHaveLength(1);
    expect(history.points(60)[0]!.publishedPerSecond['t.a.b']).toBeGreaterThan(0);

    // the list of sources never comes: the reading is abandoned, the API answers the last good one
    stuckList = true;
    await tick();
    await expect(history.sample()).rejects.toThrow(/listing the metrics sources took longer than 50 ms; the reading was abandoned/);
    expect(errors).toHaveLength(1);
    await history.watched(); // resolves, though the renewal fails
    expect((await history.latest()).answered).toEqual(['good']);
    expect((await history.summary()).throughput[0]!.topic).toBe('t.a.b');
    expect(history.points(60)).toHaveLength(1);

    // and the next reading is taken (not joined to the abandoned one)
    stuckList = false;
    await tick();
    await history.sample();
    expect(history.points(60)).toHaveLength(2);
    history.close();
  });

  it('answers an empty overview saying why when no reading ever succeeded', async () => {
    const history = new MetricsHistory({ sources: () => new Promise<MetricsSource[]>(() => undefined), readingTimeoutMs: 20 });
    await history.watched();
    const summary = await history.summary();
    expect(summary.throughput).toEqual([]);
    expect((await history.latest()).failed).toEqual([{ source: 'every source', error: expect.stringContaining('abandoned') as unknown }]);
    history.close();
  });

  it('measures a source missing from one reading, once back, from its reading before the gap: no spike, nothing lost', async () => {
    let bMissing = false;
    let [a, b] = [50_000, 40_000];
    const history = new MetricsHistory({ sources: () => [source('a', () => (a += 10)), source('b', () => (bMissing ? undefined : (b += 10)))], readingTimeoutMs: 50 });
    const t0 = await history.sample();
    await tick();
    bMissing = true;
    const t1 = await history.sample();
    expect(t1.failed.map((f) => f.source)).toEqual(['b']);
    await tick();
    bMissing = false;
    const t2 = await history.sample();
    const [missing, back] = history.points(60);
    const perSecond = (events: number, from: number, to: number) => events / ((to - from) / 1_000);
    // while b is missing only a counts (not a's 50,010 events as new); once back, b's 10 events
    // since its last reading count over the time since then (not its 40,020 as new), and a's 10
    // since the previous reading
    expect(missing!.publishedPerSecond['t.a.b']).toBeCloseTo(perSecond(10, t0.at, t1.at), 6);
    expect(back!.publishedPerSecond['t.a.b']).toBeCloseTo(perSecond(10, t1.at, t2.at) + perSecond(10, t0.at, t2.at), 6);
    const summary = await history.summary();
    expect(summary.throughput[0]!.publishedPerSecond).toBeCloseTo(perSecond(20 + 10, t0.at, t2.at), 6);
    history.close();
  });
});
