import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvelope } from '../../src/core/envelope.js';
import { createRabbitMqTransport, RABBITMQ_CAPABILITIES, type RabbitMqTransport } from '../../src/transports/rabbitmq/index.js';
import type { Delivery } from '../../src/transports/transport.js';
import { OwnedProcess } from '../support/owned-process.js';
import { freePort } from '../support/ports.js';
import { describeWithServers, uniqueName, waitFor } from '../support/servers.js';
import { describeTransport, type DescribeTransportOptions } from './transport.js';

/**
 * A RabbitMQ node this file owns, beside the machine's shared one on 5672: its own node name,
 * AMQP and distribution ports, and a temp folder for its database (Mnesia, quorum queue logs),
 * logs, config and an empty plugin list (no management plugin). `restart` stops it with SIGTERM
 * (the start script passes it on to the Erlang VM, which shuts RabbitMQ down cleanly) and starts
 * it again on the same ports and folder, so what RabbitMQ confirmed must still be there.
 */
async function startRabbitMq(): Promise<OwnedProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), 'datasync-conformance-rabbitmq-'));
  await writeFile(path.join(dir, 'rabbitmq.conf'), 'log.console = false\nlog.file.level = warning\n');
  await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
  const node = `datasync_conformance_${randomBytes(4).toString('hex')}@localhost`;
  const port = await freePort();
  const env = {
    ...process.env,
    // The Erlang cookie is written to $HOME: keep it in the temp folder too.
    HOME: dir,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(await freePort()),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbitmq.pid'),
  };
  // A node's first boot creates its database and takes several seconds on a busy machine.
  const rabbit = new OwnedProcess({ name: `rabbitmq-server ${node}`, command: serverCommand(), env, port, dir, startTimeoutMs: 60_000 });
  await rabbit.start();
  return rabbit;
}

/** Debian's `rabbitmq-server` on the PATH switches to the rabbitmq user; the script it runs does not. */
function serverCommand(): string {
  const direct = '/usr/lib/rabbitmq/bin/rabbitmq-server';
  return process.env.RABBITMQ_SERVER ?? (existsSync(direct) ? direct : 'rabbitmq-server');
}

describeWithServers(['rabbitmq'], 'rabbitmq', () => {
  let broker: OwnedProcess | undefined;
  const url = (): string => `amqp://guest:guest@127.0.0.1:${broker!.port}`;
  beforeAll(async () => {
    broker = await startRabbitMq();
  }, 90_000);
  afterAll(async () => {
    await broker?.remove();
  }, 60_000);

  // RabbitMQ has no processing timeout: a delivery goes back to the queue when its member's
  // channel closes, so the factory ignores `processingTimeoutMs`. A queue receives only what is
  // published after it was declared, hence `replaysForNewGroups: false`; the suite calls the
  // transport's `declareGroup` for each group before a case publishes, as a deployment does.
  const options: DescribeTransportOptions = {
    name: 'rabbitmq',
    create: () => createRabbitMqTransport({ url: url() }),
    capabilities: { ...RABBITMQ_CAPABILITIES, replaysForNewGroups: false },
    restartBroker: () => broker!.restart(),
  };
  describeTransport(options);

  // What the suite cannot see: the queue keeps events nobody consumed yet across a restart, and a
  // publish made while the broker is down completes once it is back.
  describe('rabbitmq broker restarts', () => {
    const event = (topic: string, seq: number) => createEnvelope({ topic, version: 1, source: 'conformance', data: { seq } });

    async function drain(transport: RabbitMqTransport, topic: string, group: string, count: number): Promise<Delivery[]> {
      const controller = new AbortController();
      const received: Delivery[] = [];
      const reading = (async () => {
        for await (const delivery of transport.subscriber.subscribe(topic, { group, consumer: 'c1', signal: controller.signal })) {
          received.push(delivery);
          await delivery.ack();
        }
      })();
      try {
        await waitFor(`${count} deliveries`, () => new Set(received.map((d) => d.id)).size >= count, 30_000);
      } finally {
        controller.abort();
        await reading;
      }
      return received;
    }

    it('keeps what a quorum queue holds across a restart', async () => {
      const transport = await createRabbitMqTransport({ url: url() });
      try {
        const topic = uniqueName('restart_keep');
        const group = uniqueName('g');
        await transport.declareGroup(topic, group);
        const events = Array.from({ length: 100 }, (_, i) => event(topic, i));
        await transport.publisher.publish(topic, events);

        await broker!.restart();

        const received = await drain(transport, topic, group, events.length);
        expect(new Set(received.map((d) => d.id))).toEqual(new Set(events.map((e) => e.id)));
      } finally {
        await transport.close();
      }
    }, 120_000);

    it('completes a publish made while the broker is down once it is back', async () => {
      const transport = await createRabbitMqTransport({ url: url() });
      try {
        const topic = uniqueName('restart_wait');
        const group = uniqueName('g');
        await transport.declareGroup(topic, group);
        await broker!.stop();
        let settled = false;
        const publishing = transport.publisher.publish(topic, [event(topic, 1)]).finally(() => (settled = true));
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(settled).toBe(false);
        await broker!.start();
        await publishing;
        const received = await drain(transport, topic, group, 1);
        expect(received[0]!.attempt).toBe(1);
      } finally {
        await transport.close();
      }
    }, 120_000);

    it('closes while the broker is down: a waiting publish rejects with TRANSPORT_CLOSED, nothing hangs', async () => {
      const transport = await createRabbitMqTransport({ url: url() });
      const topic = uniqueName('restart_close');
      const group = uniqueName('g');
      const controller = new AbortController();
      const iterator = transport.subscriber.subscribe(topic, { group, consumer: 'c1', signal: controller.signal })[Symbol.asyncIterator]();
      const pulling = iterator.next();
      await transport.declareGroup(topic, group);
      await broker!.stop();
      try {
        const publishing = transport.publisher.publish(topic, [event(topic, 1)]).then(() => 'published', (error: unknown) => error);
        await transport.close();
        expect(await publishing).toMatchObject({ code: 'TRANSPORT_CLOSED' });
        expect(await pulling).toEqual({ done: true, value: undefined });
      } finally {
        controller.abort();
        await broker!.start();
      }
    }, 120_000);
  });
});
