import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createRedisStreamsTransport, REDIS_STREAMS_CAPABILITIES } from '../../src/transports/redis-streams/index.js';
import { describeWithServers, waitFor } from '../support/servers.js';
import { describeTransport } from './transport.js';

/**
 * A redis-server this file owns: its own free port and temp data folder, AOF with
 * `appendfsync always`, so a restart keeps every write Redis acknowledged. The machine's
 * shared Redis on 6379 keeps nothing on disk by design and is never touched here.
 */
class OwnedRedis {
  #process: ChildProcess | undefined;

  private constructor(readonly port: number, readonly dir: string) {}

  static async start(): Promise<OwnedRedis> {
    const redis = new OwnedRedis(await freePort(), await mkdtemp(path.join(tmpdir(), 'datasync-conformance-redis-')));
    await redis.#launch();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** SIGTERM (Redis flushes the AOF and exits), then start again on the same port and folder. */
  async restart(): Promise<void> {
    await this.#terminate();
    await this.#launch();
  }

  async stop(): Promise<void> {
    await this.#terminate();
    await rm(this.dir, { recursive: true, force: true });
  }

  async #launch(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--loglevel', 'warning'];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let failure: Error | undefined;
    child.once('error', (error) => (failure = error));
    child.once('exit', (code) => (failure ??= new Error(`redis-server on port ${this.port} exited with ${code}`)));
    this.#process = child;
    await waitFor(`redis-server on port ${this.port}`, async () => {
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

describeWithServers(['redis'], 'redis-streams', () => {
  let broker: OwnedRedis | undefined;
  beforeAll(async () => {
    broker = await OwnedRedis.start();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  describeTransport({
    name: 'redis-streams',
    create: ({ processingTimeoutMs }) =>
      createRedisStreamsTransport({ url: broker!.url, processingTimeoutMs, redeliverIntervalMs: 150, blockMs: 200 }),
    capabilities: { ...REDIS_STREAMS_CAPABILITIES, replaysForNewGroups: true },
    restartBroker: () => broker!.restart(),
  });
});
