import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createRedisStreamsTransport, REDIS_STREAMS_CAPABILITIES } from '../../src/transports/redis-streams/index.js';
import { OwnedProcess } from '../support/owned-process.js';
import { freePort } from '../support/ports.js';
import { describeWithServers } from '../support/servers.js';
import { describeTransport } from './transport.js';

/**
 * A redis-server this file owns: its own free port and temp data folder, AOF with
 * `appendfsync always`, so a restart (SIGTERM: Redis flushes the AOF and exits, then a start on
 * the same port and folder) keeps every write Redis acknowledged. The machine's shared Redis on
 * 6379 keeps nothing on disk by design and is never touched here.
 */
async function startRedis(): Promise<OwnedProcess> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'datasync-conformance-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--loglevel', 'warning'];
  const redis = new OwnedProcess({ name: 'redis-server', command: 'redis-server', args, port, dir });
  await redis.start();
  return redis;
}

describeWithServers(['redis'], 'redis-streams', () => {
  let broker: OwnedProcess | undefined;
  beforeAll(async () => {
    broker = await startRedis();
  });
  afterAll(async () => {
    await broker?.remove();
  });

  describeTransport({
    name: 'redis-streams',
    create: ({ processingTimeoutMs }) =>
      createRedisStreamsTransport({ url: `redis://127.0.0.1:${broker!.port}`, processingTimeoutMs, redeliverIntervalMs: 150, blockMs: 200 }),
    capabilities: { ...REDIS_STREAMS_CAPABILITIES, replaysForNewGroups: true },
    restartBroker: () => broker!.restart(),
  });
});
