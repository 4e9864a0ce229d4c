import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEnvelope, parseEnvelope, type CloudEvent } from '../../src/core/envelope.js';
import { ConfigurationError, ServerUnreachableError } from '../../src/core/errors.js';
import {
  createRedisStreamsTransport,
  DEFAULT_REDIS_STREAMS_CONFIG,
  validate,
  withDefaults,
  type RedisStreamsConfig,
  type RedisStreamsTransport,
} from '../../src/transports/redis-streams/index.js';
import type { Delivery } from '../../src/transports/transport.js';
import { describeWithServers, REDIS_URL, uniqueName } from '../support/servers.js';

/** Short timeouts so redelivery happens within a test, with wide margins for a busy machine. */
const FAST: RedisStreamsConfig = { processingTimeoutMs: 600, redeliverIntervalMs: 200, blockMs: 200 };

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Pulls deliveries in the background; `handle` runs for each before the next pull. */
function startReader(deliveries: AsyncIterable<Delivery>, handle?: (delivery: Delivery) => Promise<void>) {
  const received: Delivery[] = [];
  const finished = (async () => {
    for await (const delivery of deliveries) {
      received.push(delivery);
      await handle?.(delivery);
    }
  })();
  return { received, finished };
}

const ackEach = (delivery: Delivery): Promise<void> => delivery.ack();

function productEvent(topic: string, seq: number, extra: { traceparent?: string } = {}): CloudEvent<{ id: string; seq: number }> {
  return createEnvelope({ topic, version: 1, source: 'catalog', data: { id: `p${seq}`, seq }, subject: `p${seq}`, ...extra });
}

describe('redis-streams configuration', () => {
  it('fills in the documented defaults', () => {
    const config = withDefaults({ url: 'redis://127.0.0.1:6379' });
    expect(config).toMatchObject({ ...DEFAULT_REDIS_STREAMS_CONFIG, keepAliveIntervalMs: 20_000, maxLenApprox: undefined });
    expect(withDefaults({ processingTimeoutMs: 900 }).keepAliveIntervalMs).toBe(300);
  });

  it.each([
    [{ url: 'http://127.0.0.1:6379' }, 'url'],
    [{ processingTimeoutMs: 0 }, 'processingTimeoutMs'],
    [{ batchSize: 1.5 }, 'batchSize'],
    [{ blockMs: -1 }, 'blockMs'],
    [{ maxLenApprox: 0 }, 'maxLenApprox'],
    [{ processingTimeoutMs: 1_000, keepAliveIntervalMs: 1_000 }, 'keepAliveIntervalMs'],
    [{ pubsubName: '' }, 'pubsubName'],
  ] satisfies [RedisStreamsConfig, string][])('rejects %j naming %s', async (config, field) => {
    expect(() => validate(withDefaults(config))).toThrow(ConfigurationError);
    await expect(createRedisStreamsTransport(config)).rejects.toMatchObject({ code: 'CONFIGURATION_INVALID', field });
  });
});

describeWithServers(['redis'], 'redis-streams transport', () => {
  let redis: Redis;
  const transports: RedisStreamsTransport[] = [];
  const controllers: AbortController[] = [];
  const topics: string[] = [];

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
  });

  afterEach(async () => {
    for (const controller of controllers.splice(0)) controller.abort();
    await Promise.all(transports.splice(0).map((transport) => transport.close()));
  });

  afterAll(async () => {
    if (topics.length > 0) await redis.del(...topics);
    await redis.quit();
  });

  async function open(config: RedisStreamsConfig = {}): Promise<RedisStreamsTransport> {
    const transport = await createRedisStreamsTransport({ url: REDIS_URL, ...config });
    transports.push(transport);
    return transport;
  }

  function newTopic(): string {
    const topic = uniqueName('ds_it_topic');
    topics.push(topic);
    return topic;
  }

  function subscribe(transport: RedisStreamsTransport, topic: string, group: string, consumer: string, batchSize?: number) {
    const controller = new AbortController();
    controllers.push(controller);
    const deliveries = transport.subscriber.subscribe(topic, { group, consumer, signal: controller.signal, batchSize });
    return { deliveries, controller };
  }

  it('delivers 200 published events to one subscriber in order, with bodies and metadata intact', async () => {
    const transport = await open();
    const topic = newTopic();
    const events = Array.from({ length: 200 }, (_, i) => productEvent(topic, i));
    await transport.publisher.publish(topic, events.slice(0, 120), { metadata: { batch: 'first', tenant: 'acme' } });
    await transport.publisher.publish(topic, events.slice(120), { metadata: { batch: 'second' } });

    const reader = startReader(subscribe(transport, topic, 'search', 'search-1').deliveries, ackEach);
    await waitFor('200 deliveries', () => reader.received.length >= 200);

    expect(reader.received.map((d) => parseEnvelope(d.body).id)).toEqual(events.map((e) => e.id));
    expect(reader.received.map((d) => parseEnvelope(d.body))).toEqual(events);
    expect(reader.received[0]!.metadata).toEqual({ batch: 'first', tenant: 'acme' });
    expect(reader.received[199]!.metadata).toEqual({ batch: 'second' });
    expect(reader.received.every((d) => d.attempt === 1 && d.topic === topic)).toBe(true);
    await waitFor('all acked', async () => (await redis.xpending(topic, 'search'))[0] === 0);
  });

  it('delivers entries written by a Dapr sidecar, with data or data_base64', async () => {
    const transport = await open();
    const topic = newTopic();
    const daprEvent = (id: string) => ({
      id,
      source: 'inventory-go',
      type: 'com.dapr.event.sent',
      specversion: '1.0',
      datacontenttype: 'application/json',
      topic,
      pubsubname: 'pubsub',
      traceid: '',
      traceparent: '',
      tracestate: '',
      time: '2025-01-15T10:00:00Z',
    });
    await redis.xadd(topic, '*', 'data', JSON.stringify({ ...daprEvent('dapr-1'), data: { sku: 'A-1', quantity: 3 } }));
    const base64 = Buffer.from(JSON.stringify({ sku: 'B-2', quantity: 5 })).toString('base64');
    await redis.xadd(topic, '*', 'data', JSON.stringify({ ...daprEvent('dapr-2'), data_base64: base64 }));

    const reader = startReader(subscribe(transport, topic, 'warehouse', 'warehouse-1').deliveries, ackEach);
    await waitFor('2 deliveries', () => reader.received.length >= 2);

    const [plain, encoded] = reader.received.map((d) => parseEnvelope(d.body));
    expect(plain).toMatchObject({ id: 'dapr-1', source: 'inventory-go', data: { sku: 'A-1', quantity: 3 } });
    expect(plain).not.toHaveProperty('traceparent');
    expect(encoded).toMatchObject({ id: 'dapr-2', data: { sku: 'B-2', quantity: 5 } });
    expect(reader.received.map((d) => d.metadata)).toEqual([{}, {}]);
  });

  it('delivers an entry without a data field with body undefined, and ignores invalid metadata', async () => {
    const transport = await open();
    const topic = newTopic();
    await redis.xadd(topic, '*', 'other', 'x', 'metadata', 'not json');
    const reader = startReader(subscribe(transport, topic, 'search', 'search-1').deliveries, ackEach);
    await waitFor('1 delivery', () => reader.received.length >= 1);
    expect(reader.received[0]).toMatchObject({ body: undefined, metadata: {}, attempt: 1 });
  });

  it('writes the stream fields a Dapr subscriber reads', async () => {
    const transport = await open();
    const topic = newTopic();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const traced = productEvent(topic, 1, { traceparent });
    const { topic: _t, pubsubname: _p, ...bare } = productEvent(topic, 2);
    await transport.publisher.publish(topic, [traced, bare], { metadata: { origin: 'relay' } });

    const entries = await redis.xrange(topic, '-', '+');
    expect(entries).toHaveLength(2);
    const [first, second] = entries.map(([, fields]) => fields);
    expect(first!.filter((_, i) => i % 2 === 0)).toEqual(['data', 'metadata']);
    expect(JSON.parse(first![3]!)).toEqual({ origin: 'relay' });
    const wire = JSON.parse(first![1]!) as Record<string, unknown>;
    expect(wire).toMatchObject({
      id: traced.id,
      source: 'catalog',
      specversion: '1.0',
      type: `${topic}.v1`,
      datacontenttype: 'application/json',
      data: { id: 'p1', seq: 1 },
      topic,
      pubsubname: 'datasync',
      traceparent,
      traceid: traceparent,
    });
    expect(typeof wire.time).toBe('string');
    // topic and pubsubname are filled in when an event lacks them
    expect(JSON.parse(second![1]!)).toMatchObject({ id: bare.id, topic, pubsubname: 'datasync' });
  });

  it('shares the work between members of one group, and gives every group everything', async () => {
    const transport = await open();
    const topic = newTopic();
    const events = Array.from({ length: 60 }, (_, i) => productEvent(topic, i));
    const slowAck = async (delivery: Delivery): Promise<void> => {
      await sleep(5);
      await delivery.ack();
    };
    const memberA = startReader(subscribe(transport, topic, 'search', 'search-a', 5).deliveries, slowAck);
    const memberB = startReader(subscribe(transport, topic, 'search', 'search-b', 5).deliveries, slowAck);
    const otherGroup = startReader(subscribe(transport, topic, 'analytics', 'analytics-1').deliveries, ackEach);
    for (let i = 0; i < events.length; i += 10) await transport.publisher.publish(topic, events.slice(i, i + 10));

    await waitFor('60 deliveries in group search', () => memberA.received.length + memberB.received.length >= 60);
    await waitFor('60 deliveries in group analytics', () => otherGroup.received.length >= 60);
    const idsA = memberA.received.map((d) => d.id);
    const idsB = memberB.received.map((d) => d.id);
    expect(idsA.length).toBeGreaterThan(0);
    expect(idsB.length).toBeGreaterThan(0);
    expect(idsA.filter((id) => idsB.includes(id))).toEqual([]);
    expect(new Set([...idsA, ...idsB]).size).toBe(60);
    expect(otherGroup.received.map((d) => parseEnvelope(d.body).id)).toEqual(events.map((e) => e.id));
  });

  it('lets another member claim what a dead member took and never acked, with attempt >= 2', async () => {
    const topic = newTopic();
    const dying = await open(FAST);
    const survivor = await open(FAST);
    const events = [0, 1, 2].map((i) => productEvent(topic, i));
    await dying.publisher.publish(topic, events);

    const dead = subscribe(dying, topic, 'search', 'search-dead');
    const taken = startReader(dead.deliveries);
    await waitFor('the dying member to take 3', () => taken.received.length >= 3);
    dead.controller.abort();
    await taken.finished;

    const rescuer = startReader(subscribe(survivor, topic, 'search', 'search-alive').deliveries, ackEach);
    await waitFor('3 claimed deliveries', () => rescuer.received.length >= 3);
    expect(rescuer.received.map((d) => d.id).sort()).toEqual(taken.received.map((d) => d.id).sort());
    expect(rescuer.received.every((d) => d.attempt >= 2)).toBe(true);
    await waitFor('all acked', async () => (await redis.xpending(topic, 'search'))[0] === 0);
  });

  it('keeps an entry held by a live member from being claimed, and never redelivers it once acked', async () => {
    const topic = newTopic();
    const config: RedisStreamsConfig = { processingTimeoutMs: 1_000, redeliverIntervalMs: 200, blockMs: 200 };
    const holder = await open(config);
    const other = await open(config);
    await holder.publisher.publish(topic, [productEvent(topic, 1)]);

    const slow = startReader(subscribe(holder, topic, 'search', 'search-slow').deliveries);
    await waitFor('the slow member to take the entry', () => slow.received.length >= 1);
    const watcher = startReader(subscribe(other, topic, 'search', 'search-other').deliveries, ackEach);

    await sleep(3 * 1_000); // the handler "runs" for 3 processing timeouts
    expect(watcher.received).toEqual([]);
    await slow.received[0]!.ack();
    await sleep(1_000 + 2 * 200);
    expect(watcher.received).toEqual([]);
    expect((await redis.xpending(topic, 'search'))[0]).toBe(0);
  });

  it('redelivers a nacked entry after its delay with the next attempt', async () => {
    const transport = await open();
    const topic = newTopic();
    await transport.publisher.publish(topic, [productEvent(topic, 1)]);
    const iterator = subscribe(transport, topic, 'search', 'search-1').deliveries[Symbol.asyncIterator]();

    const first = (await iterator.next()).value as Delivery;
    expect(first.attempt).toBe(1);
    const nackedAt = Date.now();
    await first.nack({ delayMs: 300 });
    const again = (await iterator.next()).value as Delivery;
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(300);
    expect(again).toMatchObject({ id: first.id, attempt: 2, body: first.body });
    const [pending] = (await redis.xpending(topic, 'search', '-', '+', 10)) as [string, string, number, number][];
    expect(pending?.[3]).toBe(2);
    await again.ack();

    await transport.publisher.publish(topic, [productEvent(topic, 2)]);
    const third = (await iterator.next()).value as Delivery;
    await third.nack();
    expect((await iterator.next()).value).toMatchObject({ id: third.id, attempt: 2 });
  });

  it('trims each stream to about maxLenApprox entries when set, and not at all when unset', async () => {
    const trimmed = newTopic();
    const untrimmed = newTopic();
    const capped = await open({ maxLenApprox: 100 });
    const uncapped = await open();
    for (let i = 0; i < 2_000; i += 250) {
      const batch = Array.from({ length: 250 }, (_, j) => productEvent(trimmed, i + j));
      await capped.publisher.publish(trimmed, batch);
    }
    await uncapped.publisher.publish(untrimmed, Array.from({ length: 600 }, (_, i) => productEvent(untrimmed, i)));

    const length = await redis.xlen(trimmed);
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThanOrEqual(100 + 250); // `~` trims whole stream nodes, so some slack
    expect(await redis.xlen(untrimmed)).toBe(600);
  });

  it('rejects with ServerUnreachableError naming the address when Redis does not answer', async () => {
    const attempt = createRedisStreamsTransport({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 2_000 });
    await expect(attempt).rejects.toBeInstanceOf(ServerUnreachableError);
    await expect(attempt).rejects.toMatchObject({ code: 'SERVER_UNREACHABLE', server: 'Redis', address: '127.0.0.1:1' });
  }, 10_000);

  it('closes while a delivery is in flight: no throw, a later ack is ignored, a blocked pull ends', async () => {
    const transport = await createRedisStreamsTransport({ url: REDIS_URL, ...FAST });
    const topic = newTopic();
    await transport.publisher.publish(topic, [productEvent(topic, 1)]);
    const { deliveries } = subscribe(transport, topic, 'search', 'search-1');
    const iterator = deliveries[Symbol.asyncIterator]();
    const inFlight = (await iterator.next()).value as Delivery;
    const blockedPull = iterator.next(); // waits in XREADGROUP BLOCK: close must end it

    await expect(Promise.all([transport.close(), transport.close()])).resolves.toBeDefined();
    await expect(transport.close()).resolves.toBeUndefined();
    await expect(inFlight.ack()).resolves.toBeUndefined();
    await expect(inFlight.nack({ delayMs: 10 })).resolves.toBeUndefined();
    expect((await blockedPull).done).toBe(true);
    expect((await iterator.next()).done).toBe(true);
    await expect(transport.publisher.publish(topic, [productEvent(topic, 3)])).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
    expect(() => transport.subscriber.subscribe(topic, { group: 'g', consumer: 'c', signal: new AbortController().signal })).toThrow(/closed/);
    // the ack after close was ignored: the entry is still pending for the group
    expect((await redis.xpending(topic, 'search'))[0]).toBe(1);
  });

  it('leaves no timer or socket behind after close: a process using it exits on its own', async () => {
    const topic = newTopic();
    const moduleUrl = new URL('../../src/transports/redis-streams/index.ts', import.meta.url).href;
    // A nack delay of a minute, a held delivery (keep-alive timer) and a blocked pull are all live at close.
    const script = `
      const { createRedisStreamsTransport } = await import(${JSON.stringify(moduleUrl)});
      const topic = ${JSON.stringify(topic)};
      const transport = await createRedisStreamsTransport({ url: ${JSON.stringify(REDIS_URL)}, processingTimeoutMs: 600, redeliverIntervalMs: 200, blockMs: 200 });
      const event = (id) => ({ id, source: 'catalog', specversion: '1.0', type: topic + '.v1', time: new Date().toISOString(), datacontenttype: 'application/json', data: {} });
      await transport.publisher.publish(topic, [event('a'), event('b')]);
      const iterator = transport.subscriber.subscribe(topic, { group: 'search', consumer: 'search-1', signal: new AbortController().signal })[Symbol.asyncIterator]();
      const nacked = (await iterator.next()).value;
      await nacked.nack({ delayMs: 60000 });
      const held = (await iterator.next()).value;
      const blocked = iterator.next();
      await transport.close();
      await held.ack();
      console.log(JSON.stringify({ done: (await blocked).done }));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(killer);
    expect({ code, signal, output: output.trim() }).toEqual({ code: 0, signal: null, output: '{"done":true}' });
    expect((await redis.xpending(topic, 'search'))[0]).toBe(2);
  }, 30_000);
});
