import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvelope } from '../../src/core/envelope.js';
import { createRabbitMqTransport, RABBITMQ_CAPABILITIES, type RabbitMqTransport } from '../../src/transports/rabbitmq/index.js';
import type { Delivery } from '../../src/transports/transport.js';
import { describeWithServers, uniqueName, waitFor } from '../support/servers.js';
import { describeTransport, type DescribeTransportOptions } from './transport.js';

/**
 * A RabbitMQ node this file owns, beside the machine's shared one on 5672: its own node name,
 * AMQP and distribution ports, and a temp folder for its database (Mnesia, quorum queue logs),
 * logs, config and an empty plugin list (no management plugin). `restart` stops it with SIGTERM
 * (a clean shutdown) and starts it again on the same ports and folder, so what RabbitMQ
 * confirmed must still be there.
 */
class OwnedRabbitMq {
  #process: ChildProcess | undefined;
  #stderr = '';

  private constructor(readonly node: string, readonly port: number, readonly distPort: number, readonly dir: string) {}

  static async start(): Promise<OwnedRabbitMq> {
    const dir = await mkdtemp(path.join(tmpdir(), 'datasync-conformance-rabbitmq-'));
    await writeFile(path.join(dir, 'rabbitmq.conf'), 'log.console = false\nlog.file.level = warning\n');
    await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
    const node = `datasync_conformance_${randomBytes(4).toString('hex')}@localhost`;
    const rabbit = new OwnedRabbitMq(node, await freePort(), await freePort(), dir);
    await rabbit.#launch();
    return rabbit;
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    await this.#terminate();
    await this.#launch();
  }

  /** Stops the node; `start` it again with {@link relaunch}. */
  async halt(): Promise<void> {
    await this.#terminate();
  }

  async relaunch(): Promise<void> {
    await this.#launch();
  }

  async stop(): Promise<void> {
    await this.#terminate();
    await rm(this.dir, { recursive: true, force: true });
  }

  async #launch(): Promise<void> {
    const env = {
      ...process.env,
      // The Erlang cookie is written to $HOME: keep it in the temp folder too.
      HOME: this.dir,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: path.join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: path.join(this.dir, 'rabbitmq.pid'),
    };
    const child = spawn(serverCommand(), [], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-2_000)));
    let failure: Error | undefined;
    child.once('error', (error) => (failure = error));
    child.once('exit', (code) => (failure ??= new Error(`rabbitmq-server ${this.node} exited with ${code}: ${this.#stderr}`)));
    this.#process = child;
    // A node's first boot creates its database and takes several seconds on a busy machine.
    await waitFor(`rabbitmq-server ${this.node} on port ${this.port}`, async () => {
      if (failure) throw failure;
      return answers(this.port);
    }, 60_000);
  }

  async #terminate(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    // The start script passes SIGTERM on to the Erlang VM, which shuts RabbitMQ down cleanly.
    child.kill('SIGTERM');
    await exited;
  }
}

/** Debian's `rabbitmq-server` on the PATH switches to the rabbitmq user; the script it runs does not. */
function serverCommand(): string {
  const direct = '/usr/lib/rabbitmq/bin/rabbitmq-server';
  return process.env.RABBITMQ_SERVER ?? (existsSync(direct) ? direct : 'rabbitmq-server');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

describeWithServers(['rabbitmq'], 'rabbitmq', () => {
  let broker: OwnedRabbitMq | undefined;
  beforeAll(async () => {
    broker = await OwnedRabbitMq.start();
  }, 90_000);
  afterAll(async () => {
    await broker?.stop();
  }, 60_000);

  // RabbitMQ has no processing timeout: a delivery goes back to the queue when its member's
  // channel closes, so the factory ignores `processingTimeoutMs`. A queue receives only what is
  // published after it was declared, hence `replaysForNewGroups: false`; the suite calls the
  // transport's `declareGroup` for each group before a case publishes, as a deployment does.
  const options: DescribeTransportOptions = {
    name: 'rabbitmq',
    create: () => createRabbitMqTransport({ url: broker!.url }),
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
      const transport = await createRabbitMqTransport({ url: broker!.url });
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
      const transport = await createRabbitMqTransport({ url: broker!.url });
      try {
        const topic = uniqueName('restart_wait');
        const group = uniqueName('g');
        await transport.declareGroup(topic, group);
        await broker!.halt();
        let settled = false;
        const publishing = transport.publisher.publish(topic, [event(topic, 1)]).finally(() => (settled = true));
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(settled).toBe(false);
        await broker!.relaunch();
        await publishing;
        const received = await drain(transport, topic, group, 1);
        expect(received[0]!.attempt).toBe(1);
      } finally {
        await transport.close();
      }
    }, 120_000);

    it('closes while the broker is down: a waiting publish rejects with TRANSPORT_CLOSED, nothing hangs', async () => {
      const transport = await createRabbitMqTransport({ url: broker!.url });
      const topic = uniqueName('restart_close');
      const group = uniqueName('g');
      const controller = new AbortController();
      const iterator = transport.subscriber.subscribe(topic, { group, consumer: 'c1', signal: controller.signal })[Symbol.asyncIterator]();
      const pulling = iterator.next();
      await transport.declareGroup(topic, group);
      await broker!.halt();
      try {
        const publishing = transport.publisher.publish(topic, [event(topic, 1)]).then(() => 'published', (error: unknown) => error);
        await transport.close();
        expect(await publishing).toMatchObject({ code: 'TRANSPORT_CLOSED' });
        expect(await pulling).toEqual({ done: true, value: undefined });
      } finally {
        controller.abort();
        await broker!.relaunch();
      }
    }, 120_000);
  });
});
