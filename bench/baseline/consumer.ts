import pg from 'pg';
import { Redis } from 'ioredis';
import { applyProductsIfNewer } from '../harness/products.js';
import { benchNowMs } from '../harness/clock.js';
import { runUntilClosed } from './loop.js';
import type { BenchContext, OnCommitted, ProductEvent, Stoppable } from '../harness/system.js';
import { BASELINE_GROUP } from './schema.js';

/** Entries per XREADGROUP. */
export const BASELINE_CONSUMER_BATCH = 100;

type StreamReply = [stream: string, entries: [id: string, fields: string[]][]][] | null;

/**
 * The naive consumer: one loop of `XREADGROUP COUNT 100`, the whole batch applied
 * with one multi-row upsert (`INSERT … ON CONFLICT DO UPDATE … WHERE version <
 * EXCLUDED.version`, itself one transaction), then one XACK. Within a batch only the
 * newest version of each product is written, since one statement cannot update a
 * row twice; the older ones are superseded, and count as committed with the batch.
 */
export async function startBaselineConsumer(ctx: BenchContext, onCommitted: OnCommitted): Promise<Stoppable> {
  const db = new pg.Client({ connectionString: ctx.postgresUrl, application_name: `${ctx.applicationName}-consumer` });
  await db.connect();
  const redis = new Redis(ctx.redisUrl, { maxRetriesPerRequest: 2 });
  const consumerName = `${BASELINE_GROUP}-1`;

  const applyBatch = async (entries: [string, string[]][]): Promise<void> => {
    const events = entries.map(([, fields]) => JSON.parse(fieldOf(fields, 'data')) as ProductEvent);
    await applyProductsIfNewer(db, ctx.readerSchema, events);
    const committedAtMs = benchNowMs();
    for (const e of events) onCommitted(e, committedAtMs);
    await redis.xack(ctx.topic, BASELINE_GROUP, ...entries.map(([id]) => id));
  };

  return runUntilClosed(
    async () => {
      const reply = (await redis.xreadgroup(
        'GROUP', BASELINE_GROUP, consumerName, 'COUNT', BASELINE_CONSUMER_BATCH, 'BLOCK', 500, 'STREAMS', ctx.topic, '>',
      )) as StreamReply;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length > 0) await applyBatch(entries);
    },
    async () => {
      await db.end();
      redis.disconnect();
    },
  );
}

function fieldOf(fields: readonly string[], name: string): string {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  throw new Error(`stream entry has no ${name} field`);
}
