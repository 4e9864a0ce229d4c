import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { expect, it } from 'vitest';
import { POSTGRES_URL, REDIS_URL, describeWithServers } from '../support/servers.js';

const run = promisify(execFile);

describeWithServers(['postgres', 'redis'], 'README walk-through (examples/walkthrough.ts)', () => {
  it('runs as written and Search ends up with the product', async () => {
    // The walk-through uses the real service names; start it from a clean slate.
    const pool = new pg.Pool({ connectionString: POSTGRES_URL });
    const redis = new Redis(REDIS_URL);
    const reset = async () => {
      await pool.query('DROP SCHEMA IF EXISTS catalog CASCADE; DROP SCHEMA IF EXISTS search CASCADE');
      await redis.del('catalog.product.updated');
    };
    try {
      await reset();
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/walkthrough.ts'], {
        env: { ...process.env, DATABASE_URL: POSTGRES_URL, REDIS_URL }, timeout: 60_000,
      });
      expect(stdout).toContain('search applied the change: applied');
      expect(stdout).toContain('search copy: {"id":"p-1","sku":"KET-1","name":"Kettle","version":1}');
    } finally {
      await reset();
      await pool.end();
      redis.disconnect();
    }
  });
});
