import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createEnvelope, parseEnvelope, type CloudEvent } from '../../src/core/envelope.js';
import { ConfigurationError } from '../../src/core/errors.js';
import { createMemoryTransport, MEMORY_TRANSPORT_CAPABILITIES, type MemoryTransport } from '../../src/transports/memory/index.js';
import type { Delivery } from '../../src/transports/transport.js';

const TOPIC = 'catalog.product.updated';

function productEvent(seq: number): CloudEvent<{ id: string; seq: number }> {
  return createEnvelope({ topic: TOPIC, version: 1, source: 'catalog', data: { id: `p${seq}`, seq }, subject: `p${seq}` });
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

describe('memory transport', () => {
  const transports: MemoryTransport[] = [];
  const controllers: AbortController[] = [];

  afterEach(async () => {
    for (const controller of controllers.splice(0)) controller.abort();
    await Promise.all(transports.splice(0).map((transport) => transport.close()));
  });

  function open(): MemoryTransport {
    const transport = createMemoryTransport();
    transports.push(transport);
    return transport;
  }

  /** Pulls in the background; `handle` runs for each delivery before the next pull. */
  function member(transport: MemoryTransport, group: string, consumer: string, handle?: (delivery: Delivery) => Promise<void>) {
    const controller = new AbortController();
    controllers.push(controller);
    const received: Delivery[] = [];
    const finished = (async () => {
      for await (const delivery of transport.subscriber.subscribe(TOPIC, { group, consumer, signal: controller.signal })) {
        received.push(delivery);
        await handle?.(delivery);
      }
    })();
    return { received, finished, controller };
  }

  const ackEach = (delivery: Delivery): Promise<void> => delivery.ack();
  const seqOf = (delivery: Delivery): number => (parseEnvelope(delivery.body).data as { seq: number }).seq;

  it('reports honest capabilities and rejects a bad name', () => {
    const transport = open();
    expect(transport.name).toBe('memory');
    expect(transport.capabilities).toEqual(MEMORY_TRANSPORT_CAPABILITIES);
    expect(transport.capabilities).toMatchObject({ consumerGroups: true, persistent: false, redeliversOnNack: true });
    expect(createMemoryTransport({ name: 'broker-b' }).name).toBe('broker-b');
    expect(() => createMemoryTransport({ name: '' })).toThrow(ConfigurationError);
  });

  it('delivers bodies and metadata as published, in publish order, with attempt 1', async () => {
    const transport = open();
    const events = [1, 2, 3].map(productEvent);
    await transport.publisher.publish(TOPIC, events, { metadata: { tenant: 'acme' } });
    const search = member(transport, 'search', 'search-1', ackEach);
    await waitFor('3 deliveries', () => search.received.length === 3);
    expect(search.received.map((d) => parseEnvelope(d.body))).toEqual(events);
    expect(search.received.map((d) => [d.topic, d.attempt, d.metadata])).toEqual(Array(3).fill([TOPIC, 1, { tenant: 'acme' }]));
    expect(transport.published(TOPIC).map((e) => e.body)).toEqual(events.map((e) => JSON.stringify(e)));
    await waitFor('all acked', () => transport.unacked(TOPIC, 'search') === 0);
  });

  it('gives every group every event, including a group that joins after they were published', async () => {
    const transport = open();
    const search = member(transport, 'search', 'search-1', ackEach);
    await transport.publisher.publish(TOPIC, [1, 2, 3].map(productEvent));
    const lateGroup = member(transport, 'analytics', 'analytics-1', ackEach);
    await transport.publisher.publish(TOPIC, [4, 5].map(productEvent));
    await waitFor('5 deliveries in each group', () => search.received.length === 5 && lateGroup.received.length === 5);
    expect(search.received.map(seqOf)).toEqual([1, 2, 3, 4, 5]);
    expect(lateGroup.received.map(seqOf)).toEqual([1, 2, 3, 4, 5]);
  });

  it('shares the work between the members of one group, each entry once', async () => {
    const transport = open();
    const slowAck = async (delivery: Delivery): Promise<void> => {
      await sleep(1);
      await delivery.ack();
    };
    const a = member(transport, 'search', 'search-a', slowAck);
    const b = member(transport, 'search', 'search-b', slowAck);
    await transport.publisher.publish(TOPIC, Array.from({ length: 40 }, (_, i) => productEvent(i)));
    await waitFor('40 deliveries', () => a.received.length + b.received.length === 40);
    const idsA = a.received.map((d) => d.id);
    const idsB = b.received.map((d) => d.id);
    expect(idsA.length).toBeGreaterThan(0);
    expect(idsB.length).toBeGreaterThan(0);
    expect(new Set([...idsA, ...idsB]).size).toBe(40);
    await sleep(20);
    expect(a.received.length + b.received.length).toBe(40);
  });

  it('redelivers at once on nack, and after the delay on nack({ delayMs }), with the next attempt', async () => {
    const transport = open();
    await transport.publisher.publish(TOPIC, [productEvent(1)]);
    const controller = new AbortController();
    controllers.push(controller);
    const iterator = transport.subscriber.subscribe(TOPIC, { group: 'search', consumer: 'search-1', signal: controller.signal })[Symbol.asyncIterator]();

    const first = (await iterator.next()).value as Delivery;
    await first.nack();
    const second = (await iterator.next()).value as Delivery;
    expect(second).toMatchObject({ id: first.id, attempt: 2, body: first.body });

    const nackedAt = Date.now();
    await second.nack({ delayMs: 50 });
    await second.nack(); // a settled delivery ignores further nacks
    const third = (await iterator.next()).value as Delivery;
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(45);
    expect(third).toMatchObject({ id: first.id, attempt: 3 });
    await expect(third.nack({ delayMs: -1 })).rejects.toMatchObject({ code: 'ARGUMENT_INVALID' });

    await third.ack();
    expect(transport.unacked(TOPIC, 'search')).toBe(0);
  });

  it('gives an unacked delivery of an aborted subscription to another member; acked ones stay settled', async () => {
    const transport = open();
    await transport.publisher.publish(TOPIC, [1, 2].map(productEvent));
    const dying = member(transport, 'search', 'search-dead');
    await waitFor('2 deliveries', () => dying.received.length === 2);
    await dying.received[0]!.ack();
    dying.controller.abort();
    await dying.finished;

    const survivor = member(transport, 'search', 'search-alive', ackEach);
    await waitFor('the unacked one', () => survivor.received.length === 1);
    expect(survivor.received[0]).toMatchObject({ id: dying.received[1]!.id, attempt: 2 });
    await waitFor('all acked', () => transport.unacked(TOPIC, 'search') === 0);
    await sleep(20);
    expect(survivor.received).toHaveLength(1);
  });

  it('closes idempotently while a delivery is in flight; later use is refused or ignored', async () => {
    const transport = open();
    await transport.publisher.publish(TOPIC, [1, 2].map(productEvent));
    const controller = new AbortController();
    controllers.push(controller);
    const iterator = transport.subscriber.subscribe(TOPIC, { group: 'search', consumer: 'search-1', signal: controller.signal })[Symbol.asyncIterator]();
    const held = (await iterator.next()).value as Delivery;
    const delayed = (await iterator.next()).value as Delivery;
    await delayed.nack({ delayMs: 60_000 }); // its timer must not outlive close
    const blocked = iterator.next();

    await Promise.all([transport.close(), transport.close()]);
    expect((await blocked).done).toBe(true);
    await expect(held.ack()).resolves.toBeUndefined();
    expect(transport.unacked(TOPIC, 'search')).toBe(2);
    await expect(transport.publisher.publish(TOPIC, [productEvent(3)])).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
    expect(() => transport.subscriber.subscribe(TOPIC, { group: 'g', consumer: 'c', signal: controller.signal })).toThrow(/closed/);
  });

  it('ends the iteration of a subscription whose signal is already aborted', async () => {
    const transport = open();
    await transport.publisher.publish(TOPIC, [productEvent(1)]);
    const iterator = transport.subscriber.subscribe(TOPIC, { group: 'search', consumer: 'search-1', signal: AbortSignal.abort() })[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(true);
  });
});
