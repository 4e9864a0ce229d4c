import { expect, it } from 'vitest';
import { applyIfNewerMany, readModelMigration } from '../../src/runtime/conflict.js';
import { startConsumer, type Consumer } from '../../src/runtime/consumer.js';
import { defineService, onBatch } from '../../src/runtime/service.js';
import { itemEvent, itemTopic, type Item } from '../support/pipeline.js';
import { useTestResources } from '../support/resources.js';
import { describeWithServers, waitFor } from '../support/servers.js';

describeWithServers(['postgres', 'redis'], 'batch handlers (onBatch)', () => {
  const r = useTestResources();

  async function setup(onEvents: (events: readonly Item[]) => void) {
    const name = r.schema('b');
    const topicName = r.topic();
    const topic = itemTopic(topicName, 'owner', [name]);
    const batchSizes: number[] = [];
    const service = defineService({
      name,
      migrations: [readModelMigration('items', 'items')],
      handlers: [onBatch(topic, async ({ events, tx }) => {
        batchSizes.push(events.length);
        onEvents(events.map((e) => e.data));
        return applyIfNewerMany(tx, events.map((e) => ({ schema: name, table: 'items', id: e.data.id, version: e.data.seq, eventTime: e.time, eventId: e.id, data: e.data })));
      })],
    });
    const transport = await r.transport({ processingTimeoutMs: 60_000, redeliverIntervalMs: 200 });
    const consumer: Consumer = await startConsumer(service, { pool: r.pool, transport, concurrency: 32 });
    r.defer(() => consumer.close());
    return { name, topicName, consumer, transport, batchSizes };
  }

  it('applies many entities per call, each once and newest version last, counting stale and duplicate events', async () => {
    const { name, topicName, consumer, transport, batchSizes } = await setup(() => undefined);
    const events = Array.from({ length: 600 }, (_, i) => itemEvent(topicName, 'owner', { id: `k${i % 60}`, seq: Math.floor(i / 60) + 1 }));
    const stale = itemEvent(topicName, 'owner', { id: 'k0', seq: 1 });
    await transport.publisher.publish(topicName, [...events, events[5]!, stale]);
    await waitFor('all events settled', () => { const s = consumer.stats(); return s.applied + s.stale + s.duplicate === 602; });
    expect(consumer.stats()).toMatchObject({ applied: 600, duplicate: 1, stale: 1, dead_lettered: 0 });
    expect(Math.max(...batchSizes)).toBeGreaterThan(1);
    const rows = (await r.pool.query<{ id: string; version: string }>(`SELECT id, version FROM "${name}".items`)).rows;
    expect(rows).toHaveLength(60);
    expect(rows.every((row) => Number(row.version) === 10)).toBe(true);
    const processed = await r.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${name}".processed_events`);
    expect(processed.rows[0]!.n).toBe(601);
  });

  it('isolates a poison event: its batch is re-run one by one, only it is retried and dead-lettered', async () => {
    const { name, topicName, consumer, transport } = await setup((items) => {
      if (items.some((item) => item.fail)) throw new Error('poison in batch');
    });
    const events = Array.from({ length: 100 }, (_, i) => itemEvent(topicName, 'owner', { id: `p${i}`, seq: 1, fail: i === 37 }));
    await transport.publisher.publish(topicName, events);
    expect(await consumer.whenProcessed(events[37]!.id)).toBe('dead_lettered');
    await waitFor('the others applied', () => consumer.stats().applied === 99);
    const rows = (await r.pool.query<{ id: string }>(`SELECT id FROM "${name}".items ORDER BY id`)).rows.map((row) => row.id);
    expect(rows).toHaveLength(99);
    expect(rows).not.toContain('p37');
    const letters = (await r.pool.query<{ event_id: string; attempts: number }>(`SELECT event_id, attempts FROM "${name}".dead_letters`)).rows;
    expect(letters).toEqual([{ event_id: events[37]!.id, attempts: 4 }]);
  });
});
