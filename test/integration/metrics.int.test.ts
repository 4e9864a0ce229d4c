import { Registry } from 'prom-client';
import { expect, it } from 'vitest';
import { migrate } from '../../src/postgres/migrations.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import { startRelay } from '../../src/postgres/relay.js';
import { inTransaction } from '../../src/postgres/sql.js';
import { SyncMetrics } from '../../src/observability/sync-metrics.js';
import { startConsumer } from '../../src/runtime/consumer.js';
import { effectService, itemTopic } from '../support/pipeline.js';
import { useTestResources } from '../support/resources.js';
import { POSTGRES_URL, describeWithServers, waitFor } from '../support/servers.js';

/** The value of one series in Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describeWithServers(['postgres', 'redis'], 'metrics of a real pipeline: outbox → relay → Redis Streams → consumer', () => {
  const r = useTestResources({ poolMax: 8 });

  it('reports outbox backlog, published and consumed counts by outcome, latency, freshness, dead-letter depth and lag', async () => {
    const owner = r.schema('mo');
    const consumerName = r.schema('mc');
    const topic = itemTopic(r.topic(), owner, [consumerName]);
    const registry = new Registry();
    const metrics = SyncMetrics.for(registry);
    await migrate(r.pool, owner);

    // 20 events wait in the outbox before any relay runs: the backlog gauges see them
    const writer = new OutboxWriter({ service: owner });
    await inTransaction(r.pool, (tx) => writer.publishMany(tx, topic, Array.from({ length: 20 }, (_, i) => ({ data: { id: `k${i % 4}`, seq: i, fail: i === 7 } }))));
    const unwatch = metrics.watchOutbox(owner, r.pool);
    let text = await registry.metrics();
    expect(sample(text, `datasync_outbox_pending{service="${owner}"}`)).toBe(20);
    expect(sample(text, `datasync_outbox_oldest_age_seconds{service="${owner}"}`)).toBeGreaterThanOrEqual(0);
    unwatch();

    const transport = await r.transport();
    const consumer = await startConsumer(effectService(consumerName, topic), { pool: r.pool, transport, metrics, retry: { maxRetries: 1, backoff: { initialMs: 10, maxMs: 10 } } });
    r.defer(() => consumer.close());
    const relay = await startRelay({ connectionString: POSTGRES_URL, pool: r.pool, schema: owner, publisher: transport.publisher, metrics });
    r.defer(() => relay.close());
    await waitFor('19 applied and 1 dead-lettered', () => consumer.stats().applied === 19 && consumer.stats().dead_lettered === 1);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // backlog readings are reused for a second

    text = await registry.metrics();
    const consumed = (outcome: string): number | undefined => sample(text, `datasync_events_consumed_total{topic="${topic.name}",consumer="${consumerName}",outcome="${outcome}"}`);
    expect(sample(text, `datasync_events_published_total{topic="${topic.name}",service="${owner}"}`)).toBe(20);
    expect(consumed('applied')).toBe(19);
    expect(consumed('dead_lettered')).toBe(1);
    expect(consumed('retried')).toBe(1); // the failing event: one retry, then the dead letter
    expect(sample(text, `datasync_sync_latency_seconds_count{topic="${topic.name}",consumer="${consumerName}"}`)).toBe(19);
    expect(sample(text, `datasync_sync_latency_seconds_bucket{le="+Inf",topic="${topic.name}",consumer="${consumerName}"}`)).toBe(19);
    expect(sample(text, `datasync_data_freshness_seconds{topic="${topic.name}",consumer="${consumerName}"}`)).toBeGreaterThan(0);
    expect(sample(text, `datasync_outbox_pending{service="${owner}"}`)).toBe(0);
    expect(sample(text, `datasync_outbox_oldest_age_seconds{service="${owner}"}`)).toBe(0);
    expect(sample(text, `datasync_dlq_depth{consumer="${consumerName}"}`)).toBe(1);
    if (transport.lag) expect(sample(text, `datasync_consumer_lag{topic="${topic.name}",consumer="${consumerName}"}`)).toBe(0);
    expect(text).not.toMatch(/k[0-3]"/); // no entity id in any label

    // closing stops the scrape-time readings of what closed
    await consumer.close();
    await relay.close();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    text = await registry.metrics();
    expect(text).not.toContain(`datasync_dlq_depth{consumer="${consumerName}"}`);
    expect(text).not.toContain(`datasync_data_freshness_seconds{topic="${topic.name}",consumer="${consumerName}"}`);
    expect(text).not.toContain(`datasync_outbox_pending{service="${owner}"}`);
  });
});
