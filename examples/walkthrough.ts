// The README's five-minute walk-through, run by test/integration/walkthrough.int.test.ts.
// Catalog owns products; Search keeps a copy. Needs PostgreSQL and Redis
// (DATABASE_URL, REDIS_URL; defaults 127.0.0.1).
import pg from 'pg';
import { defineTopic } from 'datasync/core';
import { migrate, startRelay } from 'datasync/postgres';
import { applyIfNewer, createProducer, defineService, on, readModelMigration, startConsumer } from 'datasync/runtime';
import { createRedisStreamsTransport } from 'datasync/transports/redis-streams';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// 1. Declare the topic once: name, version, owner, audience, JSON Schema, ordering key.
interface Product { id: string; sku: string; name: string; version: number }
export const productUpdated = defineTopic<Product>({
  name: 'catalog.product.updated',
  version: 1,
  owner: 'catalog',
  subscribers: ['search'],
  schema: {
    type: 'object',
    required: ['id', 'sku', 'name', 'version'],
    properties: { id: { type: 'string' }, sku: { type: 'string' }, name: { type: 'string' }, version: { type: 'integer' } },
  },
  partitionKey: (product) => product.id,      // events of one product stay in order
  entityVersion: (product) => product.version, // read models drop anything older
});

const pool = new pg.Pool({ connectionString: databaseUrl });

// 2. The owner's tables: datasync's outbox plus its own products table.
await migrate(pool, 'catalog', [{
  id: 'catalog_0001_products',
  sql: 'CREATE TABLE IF NOT EXISTS {schema}.products (id text PRIMARY KEY, sku text NOT NULL, name text NOT NULL, version integer NOT NULL)',
}]);

// 3. The broker and the relay: committed outbox rows go to Redis Streams, in commit order.
const transport = await createRedisStreamsTransport({ url: process.env.REDIS_URL });
const relay = await startRelay({ connectionString: databaseUrl, schema: 'catalog', publisher: transport.publisher });

// 4. The consumer: Search applies each event once, in its own transaction, newest version wins.
const search = defineService({
  name: 'search',
  migrations: [readModelMigration('search_0001_products', 'products')],
  handlers: [
    on(productUpdated, ({ event, tx }) =>
      applyIfNewer(tx, {
        schema: 'search', table: 'products', id: event.data.id, version: event.entityversion,
        eventTime: event.time, eventId: event.id, data: event.data,
      })),
  ],
});
const consumer = await startConsumer(search, { pool, transport });

// 5. The owner changes its data and publishes the change in one transaction.
const catalog = createProducer({ service: 'catalog', pool });
const event = await catalog.transaction(async (tx) => {
  const { rows: [product] } = await tx.query<Product>(
    `INSERT INTO catalog.products (id, sku, name, version) VALUES ('p-1', 'KET-1', 'Kettle', 1)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = catalog.products.version + 1
     RETURNING *`,
  );
  return tx.publish(productUpdated, product!);
});

// 6. A moment later Search has it.
console.log('search applied the change:', await consumer.whenProcessed(event.id));
const copy = await pool.query<{ data: Product }>('SELECT data FROM search.products WHERE id = $1', ['p-1']);
console.log('search copy:', JSON.stringify(copy.rows[0]?.data));

await consumer.close();
await relay.close();
await transport.close();
await pool.end();
