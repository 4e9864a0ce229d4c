import pg from 'pg';
import { Redis } from 'ioredis';
import { quoteIdent } from '../../src/postgres/sql.js';
import { sleep } from '../harness/clock.js';
import { runUntilClosed } from './loop.js';
import type { BenchContext, Stoppable } from '../harness/system.js';

/** Rows per poll. */
export const BASELINE_RELAY_BATCH = 500;
/** Pause after a poll that did not fill a batch. */
export const BASELINE_RELAY_POLL_MS = 10;

/**
 * The naive relay: every 10 ms, in one transaction, lock up to 500 pending rows
 * (`FOR UPDATE SKIP LOCKED`, so a second relay could run beside it), XADD them all
 * in one pipeline, mark them sent, commit. A full batch polls again at once.
 */
export async function startBaselineRelay(ctx: BenchContext): Promise<Stoppable> {
  const table = `${quoteIdent(ctx.ownerSchema)}.outbox`;
  const db = new pg.Client({ connectionString: ctx.postgresUrl, application_name: `${ctx.applicationName}-relay` });
  await db.connect();
  const redis = new Redis(ctx.redisUrl, { maxRetriesPerRequest: 2 });

  const pollOnce = async (): Promise<number> => {
    await db.query('BEGIN');
    try {
      const { rows } = await db.query<{ id: string; key: string; payload: string }>(
        `SELECT id, key, payload::text AS payload FROM ${table}
         WHERE sent_at IS NULL ORDER BY id LIMIT ${BASELINE_RELAY_BATCH} FOR UPDATE SKIP LOCKED`,
      );
      if (rows.length > 0) {
        const pipeline = redis.pipeline();
        for (const row of rows) pipeline.xadd(ctx.topic, '*', 'key', row.key, 'data', row.payload);
        const results = (await pipeline.exec()) ?? [];
        const failed = results.find(([error]) => error);
        if (failed) throw failed[0]!;
        await db.query(`UPDATE ${table} SET sent_at = now() WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
      }
      await db.query('COMMIT');
      return rows.length;
    } catch (error) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  };

  return runUntilClosed(
    async () => {
      const published = await pollOnce();
      if (published < BASELINE_RELAY_BATCH) await sleep(BASELINE_RELAY_POLL_MS);
    },
    async () => {
      await db.end();
      redis.disconnect();
    },
  );
}
