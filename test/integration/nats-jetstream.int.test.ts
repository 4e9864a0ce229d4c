import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEnvelope, parseEnvelope, type CloudEvent } from '../../src/core/envelope.js';
import type { Delivery, Transport } from '../../src/transports/transport.js';
import {
  consumerNameFor,
  createNatsJetStreamTransport,
  streamNameFor,
  type NatsJetStreamConfig,
} from '../../src/transports/nats-jetstream/index.js';
import { OwnedProcess } from '../support/owned-process.js';
import { freePort } from '../support/ports.js';
import { describeWithServers, NATS_URL, uniqueName, waitFor } from '../support/servers.js';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

function event(topic: string, seq: number): CloudEvent<{ seq: number }> {
  return createEnvelope({ topic, version: 1, source: 'nats-jetstream-test', data: { seq } });
}

/** A nats-server this file starts on a free port (and removes), for setups the shared server cannot show. */
async function startNatsServer(args: readonly string[], dir?: string): Promise<OwnedProcess> {
  const port = await freePort();
  const server = new OwnedProcess({ name: 'nats-server', command: NATS_SERVER, args: [...args, '-a', '127.0.0.1', '-p', String(port)], port, dir });
  await server.start();
  return server;
}

const urlOf = (server: OwnedProcess): string => `nats://127.0.0.1:${server.port}`;

describeWithServers(['nats'], 'nats-jetstream transport', () => {
  // The shared server: every test uses its own subject family, so its own stream, deleted afterwards.
  let admin: NatsConnection;
  let jsm: JetStreamManager;
  const transports: Transport[] = [];
  const controllers: AbortController[] = [];
  const readers: Promise<void>[] = [];
  const streams = new Set<string>();

  beforeAll(async () => {
    admin = await connect({ servers: new URL(NATS_URL).host });
    jsm = await jetstreamManager(admin);
  });

  afterEach(async () => {
    for (const controller of controllers.splice(0)) controller.abort();
    await Promise.all(transports.splice(0).map((transport) => transport.close()));
    await Promise.allSettled(readers.splice(0));
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => false);
    streams.clear();
  });

  afterAll(async () => {
    await admin?.close();
  });

  async function open(config: NatsJetStreamConfig = {}): Promise<Transport> {
    const transport = await createNatsJetStreamTransport({ url: NATS_URL, ...config });
    transports.push(transport);
    return transport;
  }

  /** A fresh subject family; its stream is deleted after the test. */
  function family(): string {
    const name = uniqueName('itest');
    streams.add(streamNameFor(name, 'DATASYNC_'));
    return name;
  }

  function member(transport: Transport, topic: string, group: string, handle: (delivery: Delivery) => Promise<void>) {
    const controller = new AbortController();
    controllers.push(controller);
    const received: Delivery[] = [];
    const finished = (async () => {
      for await (const delivery of transport.subscriber.subscribe(topic, { group, consumer: uniqueName(group), signal: controller.signal })) {
        received.push(delivery);
        await handle(delivery);
      }
    })();
    readers.push(finished);
    return { received, finished, controller };
  }

  describe('Nats-Msg-Id de-duplication', () => {
    it('stores an event published twice within the duplicate window once', async () => {
      const transport = await open();
      const topic = `${family()}.product.updated`;
      const first = event(topic, 1);
      const second = event(topic, 2);
      await transport.publisher.publish(topic, [first, second]);
      await transport.publisher.publish(topic, [first]); // a relay resending after a lost PubAck
      await transport.publisher.publish(topic, [second, second]); // twice within one call
      const stream = await jsm.streams.find(topic);
      const info = await jsm.streams.info(stream);
      expect(info.state.messages).toBe(2);
      expect(info.config.duplicate_window).toBe(120_000 * 1_000_000);
    });

    it('stores repeats published with deduplicate: false (replays, the dead letter of the same event id)', async () => {
      const transport = await open();
      const topic = `${family()}.product.updated`;
      const original = event(topic, 1);
      await transport.publisher.publish(topic, [original]);
      await transport.publisher.publish(`${topic}.dlq`, [original], { deduplicate: false }); // same family stream
      await transport.publisher.publish(topic, [original], { deduplicate: false }); // a replay
      const info = await jsm.streams.info(await jsm.streams.find(topic));
      expect(info.state.messages).toBe(3);
    });

    it('uses the CloudEvent id as Nats-Msg-Id and carries metadata in one header', async () => {
      const transport = await open();
      const topic = `${family()}.product.updated`;
      const sent = event(topic, 1);
      await transport.publisher.publish(topic, [sent], { metadata: { tenant: 'acmé', 'Mixed-Case': 'x' } });
      const stored = await jsm.streams.getMessage(await jsm.streams.find(topic), { seq: 1 });
      expect(stored?.header.get('Nats-Msg-Id')).toBe(sent.id);
      expect(JSON.parse(stored!.header.get('datasync-metadata'))).toEqual({ tenant: 'acmé', 'Mixed-Case': 'x' });
      const reader = member(transport, topic, uniqueName('g'), (d) => d.ack());
      await waitFor('the delivery', () => reader.received.length === 1, 10_000);
      expect(reader.received[0]).toMatchObject({ id: '1', attempt: 1, metadata: { tenant: 'acmé', 'Mixed-Case': 'x' } });
    });
  });

  describe('connecting', () => {
    it('rejects with ServerUnreachableError naming host:port when nothing listens there', async () => {
      const port = await freePort();
      const refused = await createNatsJetStreamTransport({ url: `nats://127.0.0.1:${port}`, connectTimeoutMs: 2_000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({ name: 'ServerUnreachableError', code: 'SERVER_UNREACHABLE', server: 'NATS', address: `127.0.0.1:${port}` });
      expect((refused as Error).message).toContain(`127.0.0.1:${port}`);
    });

    it.each([
      [{ url: 'http://127.0.0.1:4222' }, 'url'],
      [{ processingTimeoutMs: 1_000, keepAliveIntervalMs: 1_000 }, 'keepAliveIntervalMs'],
      [{ fetchExpiresMs: 500 }, 'fetchExpiresMs'],
      [{ maxAgeMs: 60_000 }, 'duplicateWindowMs'],
      [{ storage: 'disk' as 'file' }, 'storage'],
      [{ streamPrefix: 'DATA.SYNC' }, 'streamPrefix'],
    ] as [NatsJetStreamConfig, string][])('refuses the config %o naming the field %s', async (config, field) => {
      await expect(createNatsJetStreamTransport(config)).rejects.toMatchObject({ code: 'CONFIGURATION_INVALID', field });
    });

    describe('a server without JetStream', () => {
      let server: OwnedProcess | undefined;
      beforeAll(async () => {
        server = await startNatsServer([]);
      });
      afterAll(async () => {
        await server?.remove();
      });

      it('is refused with a ConfigurationError on url saying JetStream must be enabled', async () => {
        const url = urlOf(server!);
        const refused = await createNatsJetStreamTransport({ url, connectTimeoutMs: 3_000 }).then(() => undefined, (error: unknown) => error);
        expect(refused).toMatchObject({ code: 'CONFIGURATION_INVALID', field: 'url', value: url });
        expect((refused as Error).message).toContain('-js');
      });
    });
  });

  describe('a server with max_payload 64 KiB', () => {
    const maxPayload = 64 * 1024;
    let server: OwnedProcess | undefined;
    beforeAll(async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'datasync-nats-payload-'));
      const config = path.join(dir, 'nats-server.conf');
      await writeFile(config, `max_payload: ${maxPayload}\njetstream {\n  store_dir: ${JSON.stringify(dir)}\n}\n`);
      server = await startNatsServer(['-c', config], dir);
    });
    afterAll(async () => {
      await server?.remove();
    });

    /** An event whose JSON text is exactly `bytes` long. */
    function eventOfSize(topic: string, bytes: number): CloudEvent<{ fill: string }> {
      const shell = createEnvelope({ topic, version: 1, source: 'nats-jetstream-test', data: { fill: '' } });
      const body = (e: CloudEvent): number => Buffer.byteLength(JSON.stringify({ ...e, pubsubname: 'datasync' }));
      return { ...shell, data: { fill: 'x'.repeat(bytes - body(shell)) } };
    }

    it("reports the server's max_payload in capabilities and counts headers against it", async () => {
      const transport = await createNatsJetStreamTransport({ url: urlOf(server!) });
      transports.push(transport);
      expect(transport.capabilities.maxPayloadBytes).toBe(maxPayload);
      const topic = `${uniqueName('payload')}.doc.saved`;
      // Fits as JSON, but not with its Nats-Msg-Id and metadata headers: refused before sending.
      const tight = eventOfSize(topic, maxPayload - 10);
      const refused = await transport.publisher.publish(topic, [tight], { metadata: { tenant: 'acme' } }).then(() => undefined, (error: unknown) => error);
      expect(refused).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', maxBytes: maxPayload });
      expect((refused as { bytes: number }).bytes).toBeGreaterThan(maxPayload);
      const fits = eventOfSize(topic, maxPayload - 1024);
      await transport.publisher.publish(topic, [fits], { metadata: { tenant: 'acme' } });
      const reader = member(transport, topic, uniqueName('g'), (d) => d.ack());
      await waitFor('the large event', () => reader.received.length === 1, 10_000);
      expect(parseEnvelope(reader.received[0]!.body).id).toBe(fits.id);
      await sleep(200);
      expect(reader.received).toHaveLength(1);
    });
  });

  describe('subject, stream and consumer mapping', () => {
    it('puts the topics of one family into one stream, adding a missing subject on demand', async () => {
      const transport = await open();
      const fam = family();
      const updated = `${fam}.product.updated`;
      const price = `${fam}.price.updated`;
      await transport.publisher.publish(updated, [event(updated, 1)]);
      await transport.publisher.publish(price, [event(price, 2)]);
      await transport.publisher.publish(fam, [event(fam, 3)]); // a one-token topic of the same family
      const stream = streamNameFor(updated, 'DATASYNC_');
      expect(stream).toBe(`DATASYNC_${fam.toUpperCase()}`);
      expect(await jsm.streams.find(updated)).toBe(stream);
      expect(await jsm.streams.find(price)).toBe(stream);
      expect(await jsm.streams.find(fam)).toBe(stream);
      const info = await jsm.streams.info(stream);
      expect(info.config.subjects.sort()).toEqual([fam, `${fam}.>`].sort());
      expect(info.config).toMatchObject({ retention: 'limits', storage: 'file' });
      expect(info.state.messages).toBe(3);

      // One durable consumer per group and topic, filtered on the topic: no event of the sibling topic.
      const group = uniqueName('search');
      const reader = member(transport, updated, group, (d) => d.ack());
      await waitFor('the product event', () => reader.received.length === 1, 10_000);
      await sleep(200);
      expect(reader.received.map((d) => parseEnvelope(d.body).topic)).toEqual([updated]);
      const consumer = await jsm.consumers.info(stream, consumerNameFor(group, updated));
      expect(consumer.config).toMatchObject({ filter_subject: updated, ack_policy: 'explicit', deliver_policy: 'all', ack_wait: 60_000 * 1_000_000 });
    });

    it('re-creates a consumer that was deleted while a member was subscribed', async () => {
      const transport = await open({ processingTimeoutMs: 1_000, fetchExpiresMs: 1_000 });
      const topic = `${family()}.stock.changed`;
      const group = uniqueName('g');
      const reader = member(transport, topic, group, (d) => d.ack());
      await transport.publisher.publish(topic, [event(topic, 1)]);
      await waitFor('the first event', () => reader.received.length === 1, 10_000);
      await jsm.consumers.delete(await jsm.streams.find(topic), consumerNameFor(group, topic));
      const later = event(topic, 2);
      await transport.publisher.publish(topic, [later]);
      await waitFor('the event after the consumer was deleted', () => reader.received.some((d) => parseEnvelope(d.body).id === later.id), 15_000);
    });
  });

  it('does not redeliver a message whose slow handler holds it past processingTimeoutMs', async () => {
    const processingTimeoutMs = 1_000;
    const transport = await open({ processingTimeoutMs });
    const topic = `${family()}.order.placed`;
    const group = uniqueName('g');
    const slow = async (delivery: Delivery): Promise<void> => {
      await sleep(processingTimeoutMs * 3); // three ack waits, kept alive meanwhile
      await delivery.ack();
    };
    const a = member(transport, topic, group, slow);
    const b = member(transport, topic, group, slow);
    await transport.publisher.publish(topic, [event(topic, 1)]);
    await waitFor('a member to take the event', () => a.received.length + b.received.length === 1, 10_000);
    await sleep(processingTimeoutMs * 3 + 500);
    const all = [...a.received, ...b.received];
    expect(all).toHaveLength(1);
    expect(all[0]!.attempt).toBe(1);
    const consumer = await jsm.consumers.info(await jsm.streams.find(topic), consumerNameFor(group, topic));
    expect(consumer.num_redelivered).toBe(0);
    expect(consumer.num_ack_pending).toBe(0);
  }, 30_000);
});
