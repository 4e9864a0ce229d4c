import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineTopic } from '../../src/core/contracts.js';
import { migrate } from '../../src/postgres/migrations.js';
import { inTransaction, outboxChannel } from '../../src/postgres/sql.js';
import { createProducer } from '../../src/runtime/producer.js';
import { describeWithServers, POSTGRES_URL, uniqueName, waitFor } from '../support/servers.js';

describeWithServers(['postgres'], 'Producer.publishWithin: publishing inside a transaction someone else opened', () => {
  const schema = uniqueName('within');
  const topic = defineTopic<{ id: string; n: number }>({
    name: 'within.thing.changed', version: 1, owner: schema, subscribers: [],
    schema: { type: 'object', required: ['id', 'n'], properties: { id: { type: 'string' }, n: { type: 'integer' } } },
    partitionKey: (data) => data.id,
  });
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
  const listener = new pg.Client({ connectionString: POSTGRES_URL });
  const notifications: number[] = [];

  beforeAll(async () => {
    await migrate(pool, schema);
    await listener.connect();
    listener.on('notification', () => notifications.push(Date.now()));
    await listener.query(`LISTEN ${outboxChannel(schema)}`);
  });
  afterAll(async () => {
    await listener.end();
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  it('writes the outbox row in the caller\'s transaction, which commits or rolls it back; the NOTIFY comes after the commit', async () => {
    const producer = createProducer({ service: schema, pool });
    const count = async (): Promise<number> => Number((await pool.query<{ count: string }>(`SELECT count(*) FROM ${schema}.outbox`)).rows[0]!.count);

    await inTransaction(pool, async (tx) => {
      const event = await producer.publishWithin(tx, topic, { id: 'a', n: 1 }, { causationId: 'consumed-1' });
      expect(event.causationid).toBe('consumed-1');
      expect(await count()).toBe(0); // not visible outside the transaction yet
    });
    expect(await count()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(notifications).toHaveLength(0); // nothing inside the transaction: a NOTIFY there would serialise commits
    producer.notifier.notify(); // what the platform's host does once the consumer's transaction committed
    await waitFor('the NOTIFY after the commit', () => notifications.length === 1, 5_000);

    await expect(inTransaction(pool, async (tx) => {
      await producer.publishWithin(tx, topic, { id: 'b', n: 2 });
      throw new Error('the handler failed');
    })).rejects.toThrow('the handler failed');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await count()).toBe(1); // rolled back with the caller's work
    expect(notifications).toHaveLength(1); // and no NOTIFY for it
  });
});
