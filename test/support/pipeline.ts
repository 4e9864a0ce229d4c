import { randomBytes } from 'node:crypto';
import { defineTopic, type Topic } from '../../src/core/contracts.js';
import { createEnvelope, type CloudEvent } from '../../src/core/envelope.js';
import type { Migration } from '../../src/postgres/migrations.js';
import type { SqlExecutor } from '../../src/postgres/sql.js';
import { defineService, on, type HandlerArgs, type Service } from '../../src/runtime/service.js';

/** The data of the test topic: an entity key and a per-key sequence number. */
export interface Item {
  id: string;
  seq: number;
  /** When true the test handler fails every time. */
  fail?: boolean;
}

/** A fresh topic name that satisfies the `<owner>.<entity>.<event>` rule. */
export function uniqueTopicName(): string {
  return `t${randomBytes(5).toString('hex')}.item.changed`;
}

/** The test topic, owned by `owner`, subscribed by `subscribers`. */
export function itemTopic(name: string, owner: string, subscribers: readonly string[]): Topic<Item> {
  return defineTopic<Item>({
    name, version: 1, owner, subscribers,
    schema: {
      type: 'object', required: ['id', 'seq'], additionalProperties: false,
      properties: { id: { type: 'string', minLength: 1 }, seq: { type: 'integer', minimum: 0 }, fail: { type: 'boolean' } },
    },
    partitionKey: (item) => item.id,
  });
}

/** An `effects` table: one row per applied event, in apply order. Counting rows counts effects. */
export const effectsMigration: Migration = {
  id: 'test_0001_effects',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.effects (n bigserial PRIMARY KEY, key text NOT NULL, seq integer NOT NULL, event_id text NOT NULL)`,
};

/** Records one effect in the consumer's transaction. */
export async function recordEffect(tx: SqlExecutor, schema: string, { event }: Pick<HandlerArgs<Item>, 'event'>): Promise<void> {
  await tx.query(`INSERT INTO "${schema}".effects (key, seq, event_id) VALUES ($1, $2, $3)`, [event.data.id, event.data.seq, event.id]);
}

/** A consumer service whose handler records an effect; `before` runs first inside the transaction (to fail or stall). */
export function effectService(name: string, topic: Topic<Item>, before?: (args: HandlerArgs<Item>) => Promise<void>): Service {
  return defineService({
    name,
    migrations: [effectsMigration],
    handlers: [
      on(topic, async (args) => {
        await before?.(args);
        if (args.event.data.fail) throw new Error(`boom on ${args.event.data.id}/${args.event.data.seq}`);
        await recordEffect(args.tx, name, args);
      }),
    ],
  });
}

/** An envelope of the test topic as its owner would publish it (keyed by the item id). */
export function itemEvent(topicName: string, owner: string, data: Item, id?: string): CloudEvent<Item> {
  return createEnvelope({ topic: topicName, version: 1, source: owner, data, id, partitionKey: data.id, subject: data.id });
}
