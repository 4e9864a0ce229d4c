import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createNatsJetStreamTransport, NATS_JETSTREAM_CAPABILITIES } from '../../src/transports/nats-jetstream/index.js';
import { describeWithServers, waitFor } from '../support/servers.js';
import { describeTransport } from './transport.js';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

/**
 * A nats-server this file owns: its own free port and temp store folder, JetStream on. Where
 * the server knows `sync_interval` (2.10 and later) it is set to `always`, so every stored
 * message is fsynced before its PubAck; older servers (the Debian 2.9 package) lack it, and a
 * restart keeps acknowledged messages because SIGTERM shuts JetStream down gracefully, writing
 * out what it holds. The machine's shared NATS on 4222 is never touched here.
 */
class OwnedNats {
  #process: ChildProcess | undefined;

  private constructor(readonly port: number, readonly dir: string, readonly configFile: string) {}

  static async start(): Promise<OwnedNats> {
    const dir = await mkdtemp(path.join(tmpdir(), 'datasync-conformance-nats-'));
    const nats = new OwnedNats(await freePort(), dir, path.join(dir, 'nats-server.conf'));
    await nats.#writeConfig();
    await nats.#launch();
    return nats;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** SIGTERM (JetStream flushes its stores and exits), then start again on the same port and folder. */
  async restart(): Promise<void> {
    await this.#terminate();
    await this.#launch();
  }

  async stop(): Promise<void> {
    await this.#terminate();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The configuration, with `sync_interval: always` when this nats-server accepts it (`-t` checks). */
  async #writeConfig(): Promise<void> {
    const store = JSON.stringify(path.join(this.dir, 'jetstream'));
    await writeFile(this.configFile, `jetstream {\n  store_dir: ${store}\n  sync_interval: always\n}\n`);
    if (spawnSync(NATS_SERVER, ['-c', this.configFile, '-t'], { stdio: 'ignore' }).status !== 0) {
      await writeFile(this.configFile, `jetstream {\n  store_dir: ${store}\n}\n`);
    }
  }

  async #launch(): Promise<void> {
    const child = spawn(NATS_SERVER, ['-c', this.configFile, '-a', '127.0.0.1', '-p', String(this.port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let failure: Error | undefined;
    child.once('error', (error) => (failure = error));
    child.once('exit', (code) => (failure ??= new Error(`nats-server on port ${this.port} exited with ${code}`)));
    this.#process = child;
    await waitFor(`nats-server on port ${this.port}`, async () => {
      if (failure) throw failure;
      return answers(this.port);
    }, 10_000);
  }

  async #terminate(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
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

// The shared server at 4222 answering tells that NATS is installed here; the suite runs on its own.
describeWithServers(['nats'], 'nats-jetstream', () => {
  let broker: OwnedNats | undefined;
  beforeAll(async () => {
    broker = await OwnedNats.start();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  describeTransport({
    name: 'nats-jetstream',
    create: ({ processingTimeoutMs }) =>
      createNatsJetStreamTransport({ url: broker!.url, processingTimeoutMs, fetchExpiresMs: 1_000 }),
    capabilities: { ...NATS_JETSTREAM_CAPABILITIES, replaysForNewGroups: true },
    restartBroker: () => broker!.restart(),
  });
});
