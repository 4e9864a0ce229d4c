import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createNatsJetStreamTransport, NATS_JETSTREAM_CAPABILITIES } from '../../src/transports/nats-jetstream/index.js';
import { OwnedProcess } from '../support/owned-process.js';
import { freePort } from '../support/ports.js';
import { describeWithServers } from '../support/servers.js';
import { describeTransport } from './transport.js';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

/**
 * A nats-server this file owns: its own free port and temp store folder, JetStream on. Where
 * the server knows `sync_interval` (2.10 and later) it is set to `always`, so every stored
 * message is fsynced before its PubAck; older servers (the Debian 2.9 package) lack it, and a
 * restart keeps acknowledged messages because SIGTERM shuts JetStream down gracefully, writing
 * out what it holds. The machine's shared NATS on 4222 is never touched here.
 */
async function startNats(): Promise<OwnedProcess> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'datasync-conformance-nats-'));
  const configFile = await writeConfig(dir);
  const nats = new OwnedProcess({ name: 'nats-server', command: NATS_SERVER, args: ['-c', configFile, '-a', '127.0.0.1', '-p', String(port)], port, dir });
  await nats.start();
  return nats;
}

/** The configuration, with `sync_interval: always` when this nats-server accepts it (`-t` checks). */
async function writeConfig(dir: string): Promise<string> {
  const configFile = path.join(dir, 'nats-server.conf');
  const store = JSON.stringify(path.join(dir, 'jetstream'));
  await writeFile(configFile, `jetstream {\n  store_dir: ${store}\n  sync_interval: always\n}\n`);
  if (spawnSync(NATS_SERVER, ['-c', configFile, '-t'], { stdio: 'ignore' }).status !== 0) {
    await writeFile(configFile, `jetstream {\n  store_dir: ${store}\n}\n`);
  }
  return configFile;
}

// The shared server at 4222 answering tells that NATS is installed here; the suite runs on its own.
describeWithServers(['nats'], 'nats-jetstream', () => {
  let broker: OwnedProcess | undefined;
  beforeAll(async () => {
    broker = await startNats();
  });
  afterAll(async () => {
    await broker?.remove();
  });

  describeTransport({
    name: 'nats-jetstream',
    create: ({ processingTimeoutMs }) =>
      createNatsJetStreamTransport({ url: `nats://127.0.0.1:${broker!.port}`, processingTimeoutMs, fetchExpiresMs: 1_000 }),
    capabilities: { ...NATS_JETSTREAM_CAPABILITIES, replaysForNewGroups: true },
    restartBroker: () => broker!.restart(),
  });
});
