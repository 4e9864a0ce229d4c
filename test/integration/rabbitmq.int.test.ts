import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type ChannelModel, type GetMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEnvelope, parseEnvelope, type CloudEvent } from '../../src/core/envelope.js';
import { ConfigurationError, ServerUnreachableError } from '../../src/core/errors.js';
import {
  createRabbitMqTransport,
  deadLetterExchangeOf,
  deadLetterQueueOf,
  DEFAULT_RABBITMQ_CONFIG,
  queueNameOf,
  validate,
  withDefaults,
  type RabbitMqConfig,
  type RabbitMqTransport,
} from '../../src/transports/rabbitmq/index.js';
import type { Delivery } from '../../src/transports/transport.js';
import { freePort } from '../support/ports.js';
import { AMQP_URL, describeWithServers, uniqueName, waitFor } from '../support/servers.js';

function productEvent(topic: string, seq: number): CloudEvent<{ id: string; seq: number }> {
  return createEnvelope({ topic, version: 1, source: 'catalog', data: { id: `p${seq}`, seq }, subject: `p${seq}` });
}

/** Pulls deliveries in the background; `handle` runs for each before the next pull. */
function startReader(deliveries: AsyncIterable<Delivery>, handle?: (delivery: Delivery) => Promise<void>) {
  const received: Delivery[] = [];
  let failure: unknown;
  const finished = (async () => {
    try {
      for await (const delivery of deliveries) {
        received.push(delivery);
        await handle?.(delivery);
      }
    } catch (error) {
      failure = error;
    }
  })();
  return { received, finished, failure: () => failure };
}

const ackEach = (delivery: Delivery): Promise<void> => delivery.ack();

describe('rabbitmq configuration', () => {
  it('fills in the documented defaults', () => {
    const config = withDefaults({ url: 'amqp://127.0.0.1:5672' });
    expect(config).toEqual({ ...DEFAULT_RABBITMQ_CONFIG, url: 'amqp://127.0.0.1:5672' });
    expect(DEFAULT_RABBITMQ_CONFIG).toMatchObject({ exchange: 'datasync', batchSize: 100, deliveryLimit: 20, maxPayloadBytes: 134_217_728, mandatory: false });
  });

  it.each([
    [{ url: 'http://127.0.0.1:5672' }, 'url'],
    [{ exchange: '' }, 'exchange'],
    [{ exchange: 'amq.topic' }, 'exchange'],
    [{ connectTimeoutMs: 0 }, 'connectTimeoutMs'],
    [{ batchSize: 1.5 }, 'batchSize'],
    [{ batchSize: 70_000 }, 'batchSize'],
    [{ deliveryLimit: 0 }, 'deliveryLimit'],
    [{ maxPayloadBytes: 536_870_913 }, 'maxPayloadBytes'],
    [{ maxPayloadBytes: -1 }, 'maxPayloadBytes'],
    [{ mandatory: 'yes' as unknown as boolean }, 'mandatory'],
  ] satisfies [RabbitMqConfig, string][])('rejects %j naming %s', async (config, field) => {
    expect(() => validate(withDefaults(config))).toThrow(ConfigurationError);
    await expect(createRabbitMqTransport(config)).rejects.toMatchObject({ code: 'CONFIGURATION_INVALID', field });
  });

  it('does not show the password of a URL it refuses', async () => {
    const refused = await createRabbitMqTransport({ url: 'http://user:secret@127.0.0.1:5672' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConfigurationError);
    expect((refused as Error).message).not.toContain('secret');
  });

  it('names the address when nothing answers there', async () => {
    const port = await freePort();
    const refused = await createRabbitMqTransport({ url: `amqp://guest:secret@127.0.0.1:${port}`, connectTimeoutMs: 2_000 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ServerUnreachableError);
    expect(refused).toMatchObject({ code: 'SERVER_UNREACHABLE', server: 'RabbitMQ', address: `127.0.0.1:${port}` });
    expect((refused as Error).message).toContain(`127.0.0.1:${port}`);
    expect((refused as Error).message).not.toContain('secret');
  });
});

describeWithServers(['rabbitmq'], 'rabbitmq transport', () => {
  // Everything this file declares hangs off its own exchange on the shared broker, removed at the end.
  const exchange = uniqueName('ds_it_exchange');
  const queues: string[] = [];
  const transports: RabbitMqTransport[] = [];
  const controllers: AbortController[] = [];
  let admin: ChannelModel;

  beforeAll(async () => {
    admin = await connect(AMQP_URL);
  });

  afterEach(async () => {
    for (const controller of controllers.splice(0)) controller.abort();
    await Promise.all(transports.splice(0).map((transport) => transport.close()));
  });

  afterAll(async () => {
    const channel = await admin.createChannel();
    for (const queue of queues) {
      await channel.deleteQueue(queue);
      await channel.deleteQueue(deadLetterQueueOf(queue));
    }
    await channel.deleteExchange(exchange);
    await channel.deleteExchange(deadLetterExchangeOf(exchange));
    await admin.close();
  });

  async function open(config: RabbitMqConfig = {}): Promise<RabbitMqTransport> {
    const transport = await createRabbitMqTransport({ url: AMQP_URL, exchange, ...config });
    transports.push(transport);
    return transport;
  }

  /** A topic and group of this test; their queues are deleted at the end. */
  function names(...groups: string[]): { topic: string; groups: string[] } {
    const topic = uniqueName('ds_it_topic');
    const unique = groups.map((group) => uniqueName(group));
    for (const group of unique) queues.push(queueNameOf(group, topic));
    return { topic, groups: unique };
  }

  function subscribe(transport: RabbitMqTransport, topic: string, group: string, handle?: (delivery: Delivery) => Promise<void>) {
    const controller = new AbortController();
    controllers.push(controller);
    return startReader(transport.subscriber.subscribe(topic, { group, consumer: `${group}-1`, signal: controller.signal }), handle);
  }

  async function getOne(queue: string): Promise<GetMessage> {
    const channel = await admin.createChannel();
    try {
      let message: GetMessage | false = false;
      await waitFor(`a message in ${queue}`, async () => (message = await channel.get(queue, { noAck: true })) !== false, 15_000);
      return message as unknown as GetMessage;
    } finally {
      await channel.close();
    }
  }

  it('moves a message that keeps coming back to the group dead-letter queue after deliveryLimit', async () => {
    const transport = await open({ deliveryLimit: 2 });
    const { topic, groups: [group] } = names('loop');
    const event = productEvent(topic, 1);
    await transport.declareGroup(topic, group!);
    await transport.publisher.publish(topic, [event], { metadata: { tenant: 'acme' } });
    const reader = subscribe(transport, topic, group!, (delivery) => delivery.nack()); // a poison loop

    const dead = await getOne(deadLetterQueueOf(queueNameOf(group!, topic)));
    expect(parseEnvelope(dead.content.toString())).toEqual(event);
    expect(dead.properties.headers).toMatchObject({ 'x-first-death-reason': 'delivery_limit', 'x-first-death-queue': queueNameOf(group!, topic), 'metadata.tenant': 'acme' });
    // Delivered once, given back twice more within the limit, then dead-lettered.
    expect(reader.received.map((d) => d.attempt)).toEqual([1, 2, 3]);
  });

  it('keeps every event for a group declared before publishing, and none from before for a group that joins later', async () => {
    const transport = await open();
    const { topic, groups: [early, late] } = names('early', 'late');
    await transport.declareGroup(topic, early!);
    await transport.declareGroup(topic, early!); // idempotent
    const before = Array.from({ length: 20 }, (_, i) => productEvent(topic, i));
    await transport.publisher.publish(topic, before);

    const earlyReader = subscribe(transport, topic, early!, ackEach);
    await waitFor('the 20 events in the declared group', () => earlyReader.received.length >= 20);
    expect(earlyReader.received.map((d) => parseEnvelope(d.body).id)).toEqual(before.map((e) => e.id));

    // Documented limit: RabbitMQ cannot replay to a queue created later.
    const lateReader = subscribe(transport, topic, late!, ackEach);
    const after = Array.from({ length: 5 }, (_, i) => productEvent(topic, 20 + i));
    await transport.publisher.publish(topic, after); // waits for the late group's declaration, begun by subscribe
    await waitFor('the 5 later events in the late group', () => lateReader.received.length >= 5);
    await sleep(200);
    expect(new Set(lateReader.received.map((d) => parseEnvelope(d.body).id))).toEqual(new Set(after.map((e) => e.id)));
  });

  it('carries the metadata map as metadata.<key> headers, with the documented message properties', async () => {
    const transport = await open();
    const { topic, groups: [group] } = names('wire');
    await transport.declareGroup(topic, group!);
    const event = productEvent(topic, 1);
    await transport.publisher.publish(topic, [event], { metadata: { tenant: 'acme', 'trace.sampled': '1' } });
    const message = await getOne(queueNameOf(group!, topic));
    expect(message.fields.routingKey).toBe(topic);
    expect(message.fields.exchange).toBe(exchange);
    expect(message.properties).toMatchObject({
      contentType: 'application/cloudevents+json',
      messageId: event.id,
      deliveryMode: 2,
      headers: { 'metadata.tenant': 'acme', 'metadata.trace.sampled': '1' },
    });
    expect(message.content.toString()).toBe(JSON.stringify(event));
  });

  it('with mandatory, refuses a publish that no queue takes, and accepts it once a group exists', async () => {
    const transport = await open({ mandatory: true });
    const { topic, groups: [group] } = names('mandatory');
    await expect(transport.publisher.publish(topic, [productEvent(topic, 1)])).rejects.toThrow(/no queue is bound/);
    await transport.declareGroup(topic, group!);
    await expect(transport.publisher.publish(topic, [productEvent(topic, 2)])).resolves.toBeUndefined();
  });

  it('reports a queue declared with another deliveryLimit as a configuration error naming deliveryLimit', async () => {
    const { topic, groups: [group] } = names('limit');
    await (await open({ deliveryLimit: 5 })).declareGroup(topic, group!);
    const other = await open({ deliveryLimit: 6 });
    await expect(other.declareGroup(topic, group!)).rejects.toMatchObject({ code: 'CONFIGURATION_INVALID', field: 'deliveryLimit' });
    const reader = subscribe(other, topic, group!);
    await reader.finished;
    expect(reader.failure()).toMatchObject({ code: 'CONFIGURATION_INVALID', field: 'deliveryLimit' });
  });

  it('reports the configured payload limit and refuses an event over it', async () => {
    const transport = await open({ maxPayloadBytes: 1_000 });
    expect(transport.capabilities.maxPayloadBytes).toBe(1_000);
    const { topic } = names();
    const big = { ...productEvent(topic, 1), data: { id: 'p1', seq: 1, fill: 'x'.repeat(1_000) } };
    await expect(transport.publisher.publish(topic, [big])).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE', maxBytes: 1_000 });
  });

  it('refuses a topic with a wildcard, and use after close', async () => {
    const transport = await open();
    await expect(transport.publisher.publish('catalog.#', [productEvent('catalog.#', 1)])).rejects.toMatchObject({ code: 'ARGUMENT_INVALID', argument: 'topic' });
    await transport.close();
    const { topic } = names();
    await expect(transport.publisher.publish(topic, [productEvent(topic, 1)])).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
    expect(() => transport.subscriber.subscribe(topic, { group: 'g', consumer: 'c', signal: new AbortController().signal })).toThrow(/closed/);
    await expect(transport.declareGroup(topic, 'g')).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
  });
});
