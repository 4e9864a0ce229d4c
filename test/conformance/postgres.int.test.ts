import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { createPostgresTransport, POSTGRES_TRANSPORT_CAPABILITIES } from '../../src/transports/postgres/index.js';
import { freePort } from '../support/ports.js';
import { describeWithServers } from '../support/servers.js';
import { describeTransport } from './transport.js';

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL this file owns: initdb into a temp folder, its own free port, `fsync=on`, so a
 * restart keeps every commit the transport acknowledged. Run as the postgres user (PostgreSQL
 * refuses root). The shared server on 5432 is never touched here.
 */
class OwnedPostgres {
  private constructor(readonly port: number, readonly dir: string) {}

  static async start(): Promise<OwnedPostgres> {
    const dir = await mkdtemp(path.join(tmpdir(), 'datasync-conformance-pg-'));
    await run('chown', ['postgres:postgres', dir]);
    const server = new OwnedPostgres(await freePort(), dir);
    await asPostgres(`${BIN}/initdb`, ['-D', server.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    await server.#start();
    return server;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  /** `pg_ctl stop -m fast` (connections are cut, commits kept), then start again on the same port and data. */
  async restart(): Promise<void> {
    await this.#pgCtl(['stop', '-m', 'fast']);
    await this.#start();
  }

  async stop(): Promise<void> {
    await this.#pgCtl(['stop', '-m', 'immediate']).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  async #start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=on`;
    await this.#pgCtl(['start', '-l', path.join(this.dir, 'server.log'), '-o', options]);
  }

  async #pgCtl(args: string[]): Promise<void> {
    await asPostgres(`${BIN}/pg_ctl`, ['-D', this.dataDir, '-w', '-t', '60', ...args]);
  }
}

async function asPostgres(binary: string, args: string[]): Promise<void> {
  await run('runuser', ['-u', 'postgres', '--', binary, ...args], { cwd: '/tmp' });
}

describeWithServers(['postgres'], 'postgres', () => {
  let server: OwnedPostgres | undefined;
  beforeAll(async () => {
    server = await OwnedPostgres.start();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  describeTransport({
    name: 'postgres',
    create: ({ processingTimeoutMs }) =>
      createPostgresTransport({ connectionString: server!.url, processingTimeoutMs, redeliverIntervalMs: 150 }),
    capabilities: { ...POSTGRES_TRANSPORT_CAPABILITIES, replaysForNewGroups: true },
    restartBroker: () => server!.restart(),
  });
});
