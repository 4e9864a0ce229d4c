import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createEnvelope, type CloudEvent } from '../../src/core/envelope.js';
import { DeadLetterStore } from '../../src/postgres/dead-letter-store.js';
import { migrate } from '../../src/postgres/migrations.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import { inTransaction } from '../../src/postgres/sql.js';
import { startRelay, type OutboxRelay } from '../../src/postgres/relay.js';
import { startConsumer, type Consumer, type SettledInfo } from '../../src/runtime/consumer.js';
import { createRedisStreamsTransport, type RedisStreamsTransport } from '../../src/transports/redis-streams/index.js';
import { effectService, itemTopic, uniqueTopicName, type Item } from '../support/pipeline.js';
import { POSTGRES_URL, REDIS_URL, describeWithServers, uniqueName } from '../support/servers.js';

describeWithServers(['postgres', 'redis'], 'pipeline: outbox → relay → Redis Streams → idempotent consumer', () => {
  let pool: pg.Pool;
  let redis: Redis;
  const cleanups: (() => Promise<unknown>)[] = [];
  const schemas: string[] = [];
  const streams: string[] = [];

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 12 });
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  afterAll(async () => {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    if (streams.length) await redis.del(...streams.flatMap((s) => [s, `${s}.dlq`]));
    await pool.end();
    redis.disconnect();
  });

  /** A fresh topic, a consumer service name and its schema, all dropped after the file. */
  function scenario() {
    const topicName = uniqueTopicName();
    const consumer = uniqueName('c');
    const owner = uniqueName('o');
    schemas.push(consumer, owner);
    streams.push(topicName);
    return { topicName, consumer, owner, topic: itemTopic(topicName, owner, [consumer]) };
  }

  async function transport(options: { processingTimeoutMs?: number } = {}): Promise<RedisStreamsTransport> {
    const t = await createRedisStreamsTransport({ url: REDIS_URL, processingTimeoutMs: options.processingTimeoutMs ?? 60_000, redeliverIntervalMs: 200 });
    cleanups.push(() => t.close());
    return t;
  }

  async function consumerOf(service: Parameters<typeof startConsumer>[0], config: Partial<Parameters<typeof startConsumer>[1]> = {}): Promise<Consumer> {
    const consumer = await startConsumer(service, { pool, transport: config.transport ?? (await transport()), ...config });
    cleanups.push(() => consumer.close());
    return consumer;
  }

  async function effects(schema: string): Promise<{ key: string; seq: number; event_id: string }[]> {
    return (await pool.query<{ key: string; seq: number; event_id: string }>(`SELECT key, seq, event_id FROM "${schema}".effects ORDER BY n`)).rows;
  }

  async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(25);
    }
  }

  function itemEvent(topicName: string, owner: string, data: Item, id?: string): CloudEvent<Item> {
    return createEnvelope({ topic: topicName, version: 1, source: owner, data, id, partitionKey: data.id, subject: data.id });
  }

  it('carries 10,000 events from outbox to read model: each applied once, per-key order kept with concurrency 16', async () => {
    const { topic, consumer: name, owner } = scenario();
    await migrate(pool, owner);
    const t = await transport();
    const relay: OutboxRelay = await startRelay({ connectionString: POSTGRES_URL, schema: owner, publisher: t.publisher });
    cleanups.push(() => relay.close());
    const settled: SettledInfo[] = [];
    const consumer = await consumerOf(effectService(name, topic), { transport: t, concurrency: 16, hooks: { onSettled: (info) => settled.push(info) } });

    // 50 keys, 4 writers each owning its keys; 200 events per key in 20 transactions of 10.
    const writer = new OutboxWriter({ service: owner });
    await Promise.all([0, 1, 2, 3].map(async (w) => {
      for (let round = 0; round < 20; round++) {
        await inTransaction(pool, async (tx) => {
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
    const processed = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${name}".processed_events`);
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
    const publisher = (await transport()).publisher;
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
    const publisher = (await transport()).publisher;
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
    const [letter, ...others] = await new DeadLetterStore(name).list(pool, {});
    expect(others).toHaveLength(0);
    expect(letter).toMatchObject({ consumer: name, topic: topicName, eventId: bad.id, reason: 'retries_exhausted', errorClass: 'Error', attempts: 4, errorMessage: 'boom on e1/1', partitionKey: 'e1' });
    expect(letter!.lastFailedAt.getTime()).toBeGreaterThan(letter!.firstFailedAt.getTime());
    expect(letter!.envelope).toMatchObject({ id: bad.id, data: bad.data });
    const dlq = await redis.xrange(`${topicName}.dlq`, '-', '+');
    expect(dlq).toHaveLength(1);
    const fields = dlq[0]![1];
    const republished = JSON.parse(fields[fields.indexOf('data') + 1]!) as Record<string, unknown>;
    expect(republished).toMatchObject({ id: bad.id, dlqreason: 'retries_exhausted', dlqattempts: 4, dlqconsumer: name, dlqerror: 'Error: boom on e1/1' });
    expect(republished.dlqfirstfailed).toEqual(expect.any(String));
    expect(await effects(name)).toEqual([{ key: 'e1', seq: 2, event_id: good.id }]);
  });

  it('dead-letters a schema-invalid event, malformed JSON and an entry without data at once, and keeps running', async () => {
    const { topic, topicName, consumer: name, owner } = scenario();
    let handlerCalls = 0;
    const consumer = await consumerOf(effectService(name, topic, async () => { handlerCalls++; }));
    const publisher = (await transport()).publisher;
    const invalid = createEnvelope({ topic: topicName, version: 1, source: owner, data: { id: 'x', seq: 'one' }, partitionKey: 'x' });
    await publisher.publish(topicName, [invalid]);
    await redis.xadd(topicName, '*', 'data', '{"id": "not json');
    await redis.xadd(topicName, '*', 'metadata', '{}');
    const after = itemEvent(topicName, owner, { id: 'x', seq: 2 });
    await publisher.publish(topicName, [after]);
    expect(await consumer.whenProcessed(after.id)).toBe('applied');
    await consumer.whenIdle();
    // Different entities settle concurrently: compare without order.
    const letters = await new DeadLetterStore(name).list(pool, {});
    const byBody = (body: string | null) => letters.find((l) => l.rawBody === body && l.reason === 'malformed');
    expect(letters).toHaveLength(3);
    const invalidLetter = letters.find((l) => l.reason === 'schema_invalid');
    expect(invalidLetter).toMatchObject({ attempts: 1, errorCode: 'SCHEMA_INVALID', eventId: invalid.id });
    expect(invalidLetter!.errorMessage).toContain('/seq');
    expect(byBody('{"id": "not json')).toMatchObject({ attempts: 1, errorCode: 'ENVELOPE_MALFORMED' });
    expect(byBody(null)).toMatchObject({ attempts: 1, errorCode: 'ENVELOPE_MALFORMED', errorMessage: expect.stringContaining('no data') as unknown });
    expect(handlerCalls).toBe(1);
    expect(consumer.stats()).toMatchObject({ applied: 1, dead_lettered: 3, retried: 0 });
    expect(await redis.xlen(`${topicName}.dlq`)).toBe(3);
  });

  it('consumes an entry as a Dapr sidecar writes it', async () => {
    const { topic, topicName, consumer: name } = scenario();
    const consumer = await consumerOf(effectService(name, topic));
    const dapr = {
      id: '5929aaac-a5e2-4ca1-859c-edfe73f11565', source: 'go-catalog', type: 'com.dapr.event.sent', specversion: '1.0',
      datacontenttype: 'application/json', data: { id: 'g1', seq: 7 }, topic: topicName, pubsubname: 'pubsub',
      traceid: '', traceparent: '', tracestate: '', time: '2026-01-31T10:00:00Z',
    };
    await redis.xadd(topicName, '*', 'data', JSON.stringify(dapr));
    expect(await consumer.whenProcessed(dapr.id)).toBe('applied');
    expect(await effects(name)).toEqual([{ key: 'g1', seq: 7, event_id: dapr.id }]);
  });

  it('loses nothing when the relay is killed between publish and marking sent; the consumer absorbs the duplicates', async () => {
    const { topic, consumer: name, owner } = scenario();
    await migrate(pool, owner);
    const writer = new OutboxWriter({ service: owner });
    const ids: string[] = [];
    for (let seq = 0; seq < 30; seq++) {
      const event = await inTransaction(pool, (tx) => writer.publish(tx, topic, { id: `r${seq % 3}`, seq }));
      ids.push(event.id);
    }
    const child = spawnChild('test/integration/fixtures/relay-child.ts', { schema: owner, batchSize: 10, mode: 'hang-after-first-publish' });
    cleanups.push(async () => { child.process.kill('SIGKILL'); });
    await child.line(/^PUBLISHED /);
    child.process.kill('SIGKILL');
    await child.exited;

    const t = await transport();
    const relay = await startRelay({ connectionString: POSTGRES_URL, schema: owner, publisher: t.publisher });
    cleanups.push(() => relay.close());
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
      await migrate(pool, name, effectService(name, topic).migrations);
      const child = spawnChild('test/integration/fixtures/consumer-child.ts', { service: name, topic: topicName, owner, mode, processingTimeoutMs: 1_000 });
      cleanups.push(async () => { child.process.kill('SIGKILL'); });
      await child.line(/^READY/);
      const events = [1, 2, 3].map((seq) => itemEvent(topicName, owner, { id: 'crash', seq }));
      await (await transport()).publisher.publish(topicName, events);
      const marked = await child.line(/^MARK /);
      expect(marked).toBe(`MARK ${events[0]!.id}`);
      child.process.kill('SIGKILL');
      await child.exited;

      const survivor = await consumerOf(effectService(name, topic), { transport: await transport({ processingTimeoutMs: 1_000 }) });
      for (const event of events) await survivor.whenProcessed(event.id);
      const rows = await effects(name);
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(survivor.stats()).toMatchObject(mode === 'after-commit' ? { duplicate: 1, applied: 2 } : { applied: 3 });
      const pending = (await redis.xpending(topicName, name)) as [number, ...unknown[]];
      expect(pending[0]).toBe(0);
    });
  }
});

/** Runs a TypeScript file in a child process with DATASYNC_CHILD set; lets the test wait for its stdout lines. */
function spawnChild(file: string, config: object): { process: ChildProcess; line(pattern: RegExp): Promise<string>; exited: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    env: { ...process.env, DATASYNC_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) if (waiter.pattern.test(line)) { waiters.splice(waiters.indexOf(waiter), 1); waiter.resolve(line); }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    exited,
    line: (pattern) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return Promise.race([
        new Promise<string>((resolve) => waiters.push({ pattern, resolve })),
        exited.then(() => { throw new Error(`child ${file} exited before printing ${pattern}`); }),
        sleep(30_000).then(() => { throw new Error(`child ${file} did not print ${pattern} within 30 s`); }),
      ]);
    },
  };
}
