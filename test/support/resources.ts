import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createRedisStreamsTransport, type RedisStreamsConfig, type RedisStreamsTransport } from '../../src/transports/redis-streams/index.js';
import { uniqueTopicName } from './pipeline.js';
import { POSTGRES_URL, REDIS_URL, uniqueName } from './servers.js';

/** What an integration file shares, and what each of its tests creates and gets removed after it. */
export interface TestResources {
  /** A pool on the test database (valid inside tests and hooks). */
  readonly pool: pg.Pool;
  /** A plain Redis client for reading streams back. */
  readonly redis: Redis;
  /** Runs `cleanup` after the current test, last registered first. */
  defer(cleanup: () => Promise<unknown>): void;
  /** A fresh schema name, dropped after the test. */
  schema(prefix: string): string;
  /** A fresh topic name; its stream and `.dlq` stream are deleted after the test. */
  topic(): string;
  /** A Redis Streams transport, closed after the test. */
  transport(config?: RedisStreamsConfig): Promise<RedisStreamsTransport>;
}

/** Registers the hooks that create and remove the resources; call it inside `describe`. */
export function useTestResources(options: { poolMax?: number } = {}): TestResources {
  let pool: pg.Pool | undefined;
  let redis: Redis | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  const schemas: string[] = [];
  const streams: string[] = [];

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: POSTGRES_URL, max: options.poolMax ?? 12 });
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    for (const schema of schemas.splice(0)) await pool!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    const keys = streams.splice(0).flatMap((s) => [s, `${s}.dlq`]);
    if (keys.length) await redis!.del(...keys);
  });
  afterAll(async () => {
    await pool?.end();
    redis?.disconnect();
  });

  const resources: TestResources = {
    get pool() { return pool!; },
    get redis() { return redis!; },
    defer: (cleanup) => { cleanups.push(cleanup); },
    schema(prefix) {
      const name = uniqueName(prefix);
      schemas.push(name);
      return name;
    },
    topic() {
      const name = uniqueTopicName();
      streams.push(name);
      return name;
    },
    async transport(config) {
      const transport = await createRedisStreamsTransport({ url: REDIS_URL, ...config });
      cleanups.push(() => transport.close());
      return transport;
    },
  };
  return resources;
}
