import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTracing, type TracingHandle } from '../../src/observability/tracing.js';
import { catalogModule } from '../../platform/services/catalog/index.js';
import { gatewayModule } from '../../platform/services/gateway/index.js';
import { searchModule } from '../../platform/services/search/index.js';
import { useInProcessPlatform } from '../support/platform-harness.js';
import { describeWithServers, waitFor } from '../support/servers.js';

// The picture of a trace: one product change from Catalog (its API call writes the event
// to the outbox) through Search (which applies it and publishes search.product.invalidated from
// its handler) to the Gateway (which drops its cached view) — all one trace.

describeWithServers(['postgres'], 'tracing and metrics on the platform: Catalog → Search → Gateway is one trace', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: TracingHandle | undefined;
  beforeAll(async () => {
    tracing = await startTracing({ exporter: 'none', serviceName: 'platform-trace-int', spanProcessor: new SimpleSpanProcessor(exporter) });
  });
  const platform = useInProcessPlatform('trace', () => [catalogModule, searchModule, gatewayModule]);
  afterAll(async () => {
    await tracing?.shutdown();
  });

  it('links send catalog.product.created → process (search) → send search.product.invalidated → process (gateway)', async () => {
    const created = await platform.call<{ id: string }>('POST', '/catalog/products', { sku: `TRACE-${Date.now().toString(36).toUpperCase()}`, name: 'Traced kettle' });
    expect(created.status).toBe(201);

    const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
    const named = (name: string, traceId?: string): ReadableSpan[] => spans().filter((s) => s.name === name && (traceId === undefined || s.spanContext().traceId === traceId));
    let send: ReadableSpan | undefined;
    await waitFor('the send span of the product created', () => {
      send = named('send catalog.product.created').find((s) => s.attributes['messaging.message.id'] !== undefined);
      return send !== undefined;
    }, 20_000);
    const traceId = send!.spanContext().traceId;
    await waitFor('the Gateway processing the invalidation in the same trace', () => named('process search.product.invalidated', traceId).length > 0, 20_000);

    const processCreated = named('process catalog.product.created', traceId);
    const sendInvalidated = named('send search.product.invalidated', traceId);
    const processInvalidated = named('process search.product.invalidated', traceId);
    expect(send!.kind).toBe(SpanKind.PRODUCER);
    expect(processCreated.map((s) => s.attributes['messaging.consumer.group.name'])).toContain('search');
    const bySearch = processCreated.find((s) => s.attributes['messaging.consumer.group.name'] === 'search')!;
    expect(bySearch.kind).toBe(SpanKind.CONSUMER);
    expect(bySearch.parentSpanContext?.spanId).toBe(send!.spanContext().spanId);
    expect(bySearch.links.map((l) => l.context.spanId)).toContain(send!.spanContext().spanId);
    // Search's handler published inside its process span
    const invalidation = sendInvalidated.find((s) => s.parentSpanContext?.spanId === bySearch.spanContext().spanId);
    expect(invalidation, 'send search.product.invalidated as a child of Search\'s process span').toBeDefined();
    const byGateway = processInvalidated.find((s) => s.attributes['messaging.consumer.group.name'] === 'gateway');
    expect(byGateway?.parentSpanContext?.spanId).toBe(invalidation!.spanContext().spanId);
    expect(platform.errors).toEqual([]);
  });

  it('serves the process\'s metrics on its services port: Prometheus text and prom-client JSON', async () => {
    const base = platform.platform().url;
    const text = await fetch(`${base}/metrics`);
    expect(text.status).toBe(200);
    expect(text.headers.get('content-type')).toContain('text/plain');
    const body = await text.text();
    expect(body).toMatch(/^datasync_events_published_total\{topic="catalog\.product\.created",service="catalog"\} [1-9]/m);
    expect(body).toMatch(/^datasync_sync_latency_seconds_count\{topic="catalog\.product\.created",consumer="search"\} [1-9]/m);
    const json = (await (await fetch(`${base}/platform/metrics.json`)).json()) as { name: string }[];
    expect(json.map((metric) => metric.name)).toEqual(expect.arrayContaining(['datasync_sync_latency_seconds', 'datasync_outbox_pending', 'datasync_dlq_depth']));
  });
});
