import pg from 'pg';
import { Redis } from 'ioredis';
import { quoteIdent } from '../../src/postgres/sql.js';
import type { BenchContext } from './system.js';

/**
 * Drops a run's state: its two schemas (with every table in them) and every Redis
 * key whose name contains the run tag (the topic stream, its dead-letter stream, …).
 * Idempotent; used by every system's `teardown`.
 */
export async function dropRunState(ctx: BenchContext): Promise<void> {
  const client = new pg.Client({ connectionString: ctx.postgresUrl, application_name: `${ctx.applicationName}-cleanup` });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(ctx.ownerSchema)}, ${quoteIdent(ctx.readerSchema)} CASCADE`);
  } finally {
    await client.end();
  }
  const redis = new Redis(ctx.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `*${ctx.runTag}*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
