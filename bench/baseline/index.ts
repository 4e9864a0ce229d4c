import pg from 'pg';
import { Redis } from 'ioredis';
import { quoteIdent } from '../../src/postgres/sql.js';
import { dropRunState } from '../harness/cleanup.js';
import { productsTableSql } from '../harness/products.js';
import type { BenchContext, OutboxAppender, SystemUnderTest } from '../harness/system.js';
import { startBaselineConsumer } from './consumer.js';
import { startBaselineRelay } from './relay.js';
import { BASELINE_GROUP, baselineOutboxSql } from './schema.js';

/**
 * The naive baseline the issue measures datasync against: a `sent_at` outbox, a
 * relay polling every 10 ms with `FOR UPDATE SKIP LOCKED` and pipelined XADD, and a
 * consumer applying 100 entries per multi-row upsert. No idempotency table, no
 * per-key lanes, no retry or dead letter: the version check is its only guard.
 */
export const baselineSystem: SystemUnderTest = {
  name: 'baseline',

  async setup(ctx: BenchContext): Promise<void> {
    const db = new pg.Client({ connectionString: ctx.postgresUrl, application_name: `${ctx.applicationName}-setup` });
    await db.connect();
    try {
      await db.query(`CREATE SCHEMA ${quoteIdent(ctx.ownerSchema)}; CREATE SCHEMA ${quoteIdent(ctx.readerSchema)}`);
      await db.query(productsTableSql(ctx.ownerSchema));
      await db.query(baselineOutboxSql(ctx.ownerSchema));
      await db.query(productsTableSql(ctx.readerSchema));
    } finally {
      await db.end();
    }
    const redis = new Redis(ctx.redisUrl, { maxRetriesPerRequest: 2 });
    try {
      await redis.xgroup('CREATE', ctx.topic, BASELINE_GROUP, '0', 'MKSTREAM');
    } finally {
      redis.disconnect();
    }
  },

  teardown: dropRunState,

  openOutbox(ctx: BenchContext): Promise<OutboxAppender> {
    const table = `${quoteIdent(ctx.ownerSchema)}.outbox`;
    return Promise.resolve({
      async append(tx, event) {
        await tx.query(`INSERT INTO ${table} (topic, key, payload) VALUES ($1, $2, $3)`, [ctx.topic, event.id, JSON.stringify(event)]);
      },
      close: () => Promise.resolve(),
    });
  },

  startRelay: startBaselineRelay,
  startConsumer: startBaselineConsumer,
};
