import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { createEnvelope } from '../../src/core/envelope.js';
import { DeadLetterStore } from '../../src/postgres/dead-letter-store.js';
import { migrate } from '../../src/postgres/migrations.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import { inTransaction } from '../../src/postgres/sql.js';
import { startRelay, type OutboxRelay } from '../../src/postgres/relay.js';
import { startConsumer, type Consumer, type SettledInfo } from '../../src/runtime/consumer.js';
import { effectService, effectsMigration, itemEvent, itemTopic, recordEffect } from '../support/pipeline.js';
import { RetryLaterError } from '../../src/core/errors.js';
import { defineService, on } from '../../src/runtime/service.js';
import { startFixture } from '../support/child-process.js';
import { useTestResources } from '../support/resources.js';
import { POSTGRES_URL, describeWithServers, waitFor } from '../support/servers.js';

/** The transports of this file: a handler may hold an entry 60 s; unacknowledged entries are claimed every 200 ms. */
const REDELIVERY = { processingTimeoutMs: 60_000, redeliverIntervalMs: 200 };

describeWithServers(['postgres', 'redis'], 'pipeline: outbox → relay → Redis Streams → idempotent consumer', () => {
  const r = useTestResources({ poolMax: 12 });

  /** A fresh topic, a consumer service name and its schema, all removed after the test. */
  function scenario() {
    const topicName = r.topic();
    const consumer = r.schema('c');
    const owner = r.schema('o');
    return { topicName, consumer, owner, topic: itemTopic(topicName, owner, [consumer]) };
  }

  async function consumerOf(service: Parameters<typeof startConsumer>[0], config: Partial<Parameters<typeof startConsumer>[1]> = {}): Promise<Consumer> {
    const consumer = await startConsumer(service, { pool: r.pool, transport: config.transport ?? (await r.transport(REDELIVERY)), ...config });
    r.defer(() => consumer.close());
    return consumer;
  }

  async function effects(schema: string): Promise<{ key: string; seq: number; event_id: string }[]> {
    return (await r.pool.query<{ key: string; seq: number; event_id: string }>(`SELECT key, seq, event_id FROM "${schema}".effects ORDER BY n`)).rows;
  }

  it('carries 10,000 events from outbox to read model: each applied once, per-key order kept with concurrency 16', async () => {
    const { topic, consumer: name, owner } = scenario();
    await migrate(r.pool, owner);
    const t = await r.transport(REDELIVERY);
    const relay: OutboxRelay = await startRelay({ connectionString: POSTGRES_URL, schema: owner, publisher: t.publisher });
    r.defer(() => relay.close());
    const settled: SettledInfo[] = [];
    const consumer = await consumerOf(effectService(name, topic), { transport: t, concurrency: 16, hooks: { onSettled: (info) => settled.push(info) } });

    // 50 keys, 4 writers each owning its keys; 200 events per key in 20 transactions of 10.
    const writer = new OutboxWriter({ service: owner });
    await Promise.all([0, 1, 2, 3].map(async (w) => {
      for (let round = 0; round < 20; round++) {
        await inTransaction(r.pool, async (tx) => {
          for (let k = w; k < 50; k += 4) {
            const items = Array.from({ length: 10 }, (_, j) => ({ data: { id: `k${k}`, seq: round * 10 + j } }));
            await writer.publishMany(tx, topic, items);
          }
        });
      }
    }));

    await waitFor('10,000 settled events', () => settled.length >= 10_000, 90_000);
    await consumer.whenIdle();
    const rows = await effects(name);
    expect(rows).toHaveLength(10_000);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(10_000);
    const perKey = new Map<string, number[]>();
    for (const row of rows) perKey.set(row.key, [...(perKey.get(row.key) ?? []), row.seq]);
    expect(perKey.size).toBe(50);
    for (const [, seqs] of perKey) expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(consumer.stats()).toMatchObject({ applied: 10_000, dead_lettered: 0 });
    const processed = await r.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${name}".processed_events`);
    expect(processed.rows[0]!.n).toBe(10_000);
  });

  it('applies an event delivered 3 times, twice concurrently on two instances, exactly once', async () => {
    const { topic, topicName, consumer: name, owner } = scenario();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => { entered = resolve; });
    let calls = 0;
    // Instance A stalls inside its transaction (its processed_events row is uncommitted) on the first call.
    const serviceA = effectService(name, topic, async () => { if (++calls === 1) { entered(); await gate; } });
    const a = await consumerOf(serviceA, { maxInFlight: 1, fetchBatchSize: 1 });
    const publisher = (await r.transport(REDELIVERY)).publisher;
    const event = itemEvent(topicName, owner, { id: 'dup', seq: 1 });
    await publisher.publish(topicName, [event]);
    await inHandler;
    const outcomesB: string[] = [];
    const b = await consumerOf(effectService(name, topic), { hooks: { onSettled: (i) => outcomesB.push(i.outcome) } });
    await publisher.publish(topicName, [event, event]);
    await waitFor('B to hold both copies', () => b.stats().inFlight === 2, 10_000);
    await sleep(200); // B's first copy is now blocked on A's uncommitted row
    release();
    await waitFor('all three settled', () => a.stats().applied + b.stats().applied + b.stats().duplicate + a.stats().duplicate === 3);
    expect(await effects(name)).toHaveLength(1);
    expect(a.stats().applied).toBe(1);
    expect(outcomesB).toEqual(['duplicate', 'duplicate']);
  });

  it('retries a failing handler exactly 4 times within the backoff bounds, dead-letters it with context, and still applies the next event of the entity', async () => {
    const { topic, topicName, consumer: name, owner } = scenario();
    const attemptsAt: number[] = [];
    const service = effectService(name, topic, async ({ event }) => { if (event.data.fail) attemptsAt.push(performance.now()); });
    const consumer = await consumerOf(service);
    const publisher = (await r.transport(REDELIVERY)).publisher;
    const bad = itemEvent(topicName, owner, { id: 'e1', seq: 1, fail: true });
    const good = itemEvent(topicName, owner, { id: 'e1', seq: 2 });
    await publisher.publish(topicName, [bad, good]);
    expect(await consumer.whenProcessed(bad.id)).toBe('dead_lettered');
    expect(await consumer.whenProcessed(good.id)).toBe('applied');

    expect(attemptsAt).toHaveLength(4);
    const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!);
    // Backoff d = 100, 200, 400 ms with jitter in [d/2, d); allow for the transaction and a busy machine above.
    [[50, 100], [100, 200], [200, 400]].forEach(([low, high], i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(low! - 1);
      expect(gaps[i]).toBeLessThan(high! + 250);
    });
    const [letter, ...others] = await new DeadLetterStore(name).list(r.pool, {});
    expect(others).toHaveLength(0);
    expect(letter).toMatchObject({ consumer: name, topic: topicName, eventId: bad.id, reason: 'retries_exhausted', errorClass: 'Error', attempts: 4, errorMessage: 'boom on e1/1', partitionKey: 'e1' });
    expect(letter!.lastFailedAt.getTime()).toBeGreaterThan(letter!.firstFailedAt.getTime());
    expect(letter!.envelope).toMatchObject({ id: bad.id, data: bad.data });
    const dlq = await r.redis.xrange(`${topicName}.dlq`, '-', '+');
    expect(dlq).toHaveLength(1);
    const fields = dlq[0]![1];
    const republished = JSON.parse(fields[fields.indexOf('data') + 1]!) as Record<string, unknown>;
    expect(republished).toMatchObject({ id: bad.id, dlqreason: 'retries_exhausted', dlqattempts: 4, dlqconsumer: name, dlqerror: 'Error: boom on e1/1' });
    expect(republished.dlqfirstfailed).toEqual(expect.any(String));
    expect(await effects(name)).toEqual([{ key: 'e1', seq: 2, event_id: good.id }]);
  });

  it('keeps the entity waiting while its failed event cannot be dead-lettered (database trouble), then goes on in order', async () => {
    const { topic, topicName, consumer: name, owner } = scenario();
    const consumer = await consumerOf(effectService(name, topic), { retry: { maxRetries: 0 }, redeliveryDelayMs: 100 });
    await r.pool.query(`ALTER TABLE "${name}".dead_letters RENAME TO dead_letters_away`);
    const events = [itemEvent(topicName, owner, { id: 'x', seq: 0, fail: true }), itemEvent(topicName, owner, { id: 'x', seq: 1 }), itemEvent(topicName, owner, { id: 'x', seq: 2 })];
    await (await r.transport(REDELIVERY)).publisher.publish(topicName, events);
    await sleep(600); // several dead-letter attempts fail meanwhile
    expect(await effects(name)).toEqual([]); // seq 1 and 2 wait behind seq 0
    await r.pool.query(`ALTER TABLE "${name}".dead_letters_away RENAME TO dead_letters`);
    expect(await consumer.whenProcessed(events[0]!.id)).toBe('dead_lettered');
    await consumer.whenProcessed(events[2]!.id);
    expect((await effects(name)).map((e) => e.seq)).toEqual([1, 2]);
  });

  it('closes promptly while a retry waits out a long backoff, and starts no attempt after close', async () => {
    const { topic, topicName, consumer: name, owner } = scenario();
    const attempts: number[] = [];
    const service = effectService(name, topic, async ({ attempt }) => { attempts.push(attempt); throw new Error('not yet'); });
    const consumer = await startConsumer(service, { pool: r.pool, transport: await r.transport(REDELIVERY), retry: { backoff: { initialMs: 3_000, maxMs: 3_000, jitter: false } } });
    await (await r.transport(REDELIVERY)).publisher.publish(topicName, [itemEvent(topicName, owner, { id: 'slow', seq: 1 })]);
    await waitFor('the first attempt', () => attempts.length === 1);
    const started = performance.now();
    await consumer.close();
    expect(performance.now() - started).toBeLessThan(2_000); // well before the 3 s backoff would end
    await sleep(3_500);
    expect(attempts).toEqual([1]);
    const pending = (await r.redis.xpending(topicName, name)) as [number, ...unknown[]];
    expect(pending[0]).toBe(1); // left for redelivery, not acked
  });

  it('dead-letters a schema-invalid event, malformed JSON and an entry without data at once, and keeps running', async () => {
    const { topic, topicName, consumer: name, owner } = scenario();
    let handlerCalls = 0;
    const consumer = await consumerOf(effectService(name, topic, async () => { handlerCalls++; }));
    const publisher = (await r.transport(REDELIVERY)).publisher;
    const invalid = createEnvelope({ topic: topicName, version: 1, source: owner, data: { id: 'x', seq: 'one' }, partitionKey: 'x' });
    await publisher.publish(topicName, [invalid]);
    await r.redis.xadd(topicName, '*', 'data', '{"id": "not json');
    await r.redis.xadd(topicName, '*', 'metadata', '{}');
    const after = itemEvent(topicName, owner, { id: 'x', seq: 2 });
    await publisher.publish(topicName, [after]);
    expect(await consumer.whenProcessed(after.id)).toBe('applied');
    await consumer.whenIdle();
    // Different entities settle concurrently: compare without order.
    const letters = await new DeadLetterStore(name).list(r.pool, {});
    const byBody = (body: string | null) => letters.find((l) => l.rawBody === body && l.reason === 'malformed');
    expect(letters).toHaveLength(3);
    const invalidLetter = letters.find((l) => l.reason === 'schema_invalid');
    expect(invalidLetter).toMatchObject({ attempts: 1, errorCode: 'SCHEMA_INVALID', eventId: invalid.id });
    expect(invalidLetter!.errorMessage).toContain('/seq');
    expect(byBody('{"id": "not json')).toMatchObject({ attempts: 1, errorCode: 'ENVELOPE_MALFORMED' });
    expect(byBody(null)).toMatchObject({ attempts: 1, errorCode: 'ENVELOPE_MALFORMED', errorMessage: expect.stringContaining('no data') as unknown });
    expect(handlerCalls).toBe(1);
    expect(consumer.stats()).toMatchObject({ applied: 1, dead_lettered: 3, retried: 0 });
    expect(await r.redis.xlen(`${topicName}.dlq`)).toBe(3);
  });

  it('consumes an entry as a Dapr sidecar writes it', async () => {
    const { topic, topicName, consumer: name } = scenario();
    const consumer = await consumerOf(effectService(name, topic));
    const dapr = {
      id: '5929aaac-a5e2-4ca1-859c-edfe73f11565', source: 'go-catalog', type: 'com.dapr.event.sent', specversion: '1.0',
      datacontenttype: 'application/json', data: { id: 'g1', seq: 7 }, topic: topicName, pubsubname: 'pubsub',
      traceid: '', traceparent: '', tracestate: '', time: '2026-01-31T10:00:00Z',
    };
    await r.redis.xadd(topicName, '*', 'data', JSON.stringify(dapr));
    expect(await consumer.whenProcessed(dapr.id)).toBe('applied');
    expect(await effects(name)).toEqual([{ key: 'g1', seq: 7, event_id: dapr.id }]);
  });

  it('loses nothing when the relay is killed between publish and marking sent; the consumer absorbs the duplicates', async () => {
    const { topic, consumer: name, owner } = scenario();
    await migrate(r.pool, owner);
    const writer = new OutboxWriter({ service: owner });
    const ids: string[] = [];
    for (let seq = 0; seq < 30; seq++) {
      const event = await inTransaction(r.pool, (tx) => writer.publish(tx, topic, { id: `r${seq % 3}`, seq }));
      ids.push(event.id);
    }
    const child = startFixture('test/integration/fixtures/relay-child.ts', { schema: owner, batchSize: 10, mode: 'hang-after-first-publish' });
    r.defer(async () => { child.process.kill('SIGKILL'); });
    await child.line(/^PUBLISHED /);
    child.process.kill('SIGKILL');
    await child.exited;

    const t = await r.transport(REDELIVERY);
    const relay = await startRelay({ connectionString: POSTGRES_URL, schema: owner, publisher: t.publisher });
    r.defer(() => relay.close());
    const consumer = await consumerOf(effectService(name, topic), { transport: t });
    for (const id of ids) await consumer.whenProcessed(id);
    await waitFor('the re-published batch to be absorbed', () => consumer.stats().duplicate === 10, 15_000);
    const rows = await effects(name);
    expect(rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    expect(consumer.stats()).toMatchObject({ applied: 30, duplicate: 10 });
  });

  for (const mode of ['after-commit', 'before-commit'] as const) {
    it(`loses nothing and doubles nothing when a consumer is killed ${mode === 'after-commit' ? 'after its commit, before its ack' : 'before its commit'}`, async () => {
      const { topic, topicName, consumer: name, owner } = scenario();
      await migrate(r.pool, name, effectService(name, topic).migrations);
      const child = startFixture('test/integration/fixtures/consumer-child.ts', { service: name, topic: topicName, owner, mode, processingTimeoutMs: 1_000 });
      r.defer(async () => { child.process.kill('SIGKILL'); });
      await child.line(/^READY/);
      const events = [1, 2, 3].map((seq) => itemEvent(topicName, owner, { id: 'crash', seq }));
      await (await r.transport(REDELIVERY)).publisher.publish(topicName, events);
      const marked = await child.line(/^MARK /);
      expect(marked).toBe(`MARK ${events[0]!.id}`);
      child.process.kill('SIGKILL');
      await child.exited;

      const survivor = await consumerOf(effectService(name, topic), { transport: await r.transport({ ...REDELIVERY, processingTimeoutMs: 1_000 }) });
      for (const event of events) await survivor.whenProcessed(event.id);
      await survivor.whenIdle();
      const rows = await effects(name);
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(survivor.stats()).toMatchObject(mode === 'after-commit' ? { duplicate: 1, applied: 2 } : { applied: 3 });
      const pending = (await r.redis.xpending(topicName, name)) as [number, ...unknown[]];
      expect(pending[0]).toBe(0);
    });
  }

  it('holds an event for another publisher\'s event with the same key without blocking it (lanes per publisher and entity)', async () => {
    // Search-like: a price (owner B) retried until its product (owner A, same key) has arrived
    const consumer = r.schema('c');
    const [ownerA, ownerB] = [r.schema('oa'), r.schema('ob')];
    const [nameA, nameB] = [r.topic(), r.topic()];
    const [topicA, topicB] = [itemTopic(nameA, ownerA, [consumer]), itemTopic(nameB, ownerB, [consumer])];
    const service = defineService({
      name: consumer,
      migrations: [effectsMigration],
      handlers: [
        on(topicA, (args) => recordEffect(args.tx, consumer, args)),
        on(topicB, async (args) => {
          const { rows } = await args.tx.query(`SELECT 1 FROM "${consumer}".effects WHERE key = $1`, [args.event.data.id]);
          if (rows.length === 0) throw new RetryLaterError(`no ${args.event.data.id} yet`, { delayMs: 300 });
          await recordEffect(args.tx, consumer, args);
        }),
      ],
    });
    const transport = await r.transport(REDELIVERY);
    await consumerOf(service, { transport });
    await transport.publisher.publish(nameB, [itemEvent(nameB, ownerB, { id: 'p1', seq: 2 })]);
    await sleep(100); // B is being retried in its lane
    await transport.publisher.publish(nameA, [itemEvent(nameA, ownerA, { id: 'p1', seq: 1 })]);
    await waitFor('both applied', async () => (await effects(consumer)).length === 2, 15_000);
    expect((await effects(consumer)).map((e) => e.seq)).toEqual([1, 2]);
    expect(await new DeadLetterStore(consumer).list(r.pool)).toEqual([]);
  });
});
