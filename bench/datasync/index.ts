import pg from 'pg';
import { defineTopic, type Topic } from '../../src/core/contracts.js';
import { migrate } from '../../src/postgres/migrations.js';
import { OutboxNotifier } from '../../src/postgres/outbox-notifier.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import { startRelay } from '../../src/postgres/relay.js';
import { defineService, onBatch, startConsumer } from '../../src/runtime/index.js';
import { connectTransport } from '../../src/transports/connect.js';
import type { Transport } from '../../src/transports/transport.js';
import { untilGroupSubscribed } from '../harness/broker-state.js';
import { dropRunState } from '../harness/cleanup.js';
import { benchNowMs } from '../harness/clock.js';
import { applyProductsIfNewer, productsTableSql } from '../harness/products.js';
import { CONSUMER_GROUP, transportSpecOf, type BenchContext, type OnCommitted, type OutboxAppender, type ProductEvent, type Stoppable, type SystemUnderTest } from '../harness/system.js';

/** The owner (publisher) and the consumer service of the bench topic. */
const OWNER = 'catalog';
const CONSUMER = CONSUMER_GROUP;

/** The run's topic: a fresh name per run, so a fresh stream or queue on every broker. Ordered per product id. */
function productTopic(ctx: BenchContext): Topic<ProductEvent> {
  return defineTopic<ProductEvent>({
    name: ctx.topic,
    version: 1,
    owner: OWNER,
    subscribers: [CONSUMER],
    description: 'A product changed (bench load).',
    schema: {
      type: 'object',
      required: ['id', 'name', 'priceCents', 'version', 'seq', 'intendedAtMs'],
      additionalProperties: false,
      properties: {
        id: { type: 'string' },
        name: { type: 'string' },
        priceCents: { type: 'integer' },
        version: { type: 'integer' },
        seq: { type: 'integer' },
        intendedAtMs: { type: 'number' },
      },
    },
    partitionKey: (p) => p.id,
    entityVersion: (p) => p.version,
  });
}

function log(ctx: BenchContext, role: string, error: unknown): void {
  console.error(`[bench] datasync/${ctx.transport} ${role} (${ctx.runTag}): ${error instanceof Error ? error.message : String(error)}`);
}

/** The run's transport, as a deployment selects it with `DATASYNC_TRANSPORT` (the transport's own defaults). */
function openTransport(ctx: BenchContext): Promise<Transport> {
  return connectTransport(transportSpecOf(ctx), { databaseUrl: ctx.postgresUrl });
}

/**
 * datasync as a user deploys it: `OutboxWriter` in the owner's transaction, the
 * outbox relay (`startRelay`) publishing through the run's transport (`ctx.transport`,
 * built by `connectTransport` in the relay and consumer processes), and a `search` service
 * whose handler applies each product to its read model with a version check, run
 * by `startConsumer` (idempotency, ordered lanes, group commit, retry, dead letter).
 */
export const datasyncSystem: SystemUnderTest = {
  name: 'datasync',

  async setup(ctx: BenchContext): Promise<void> {
    const pool = new pg.Pool({ connectionString: ctx.postgresUrl, max: 2, application_name: `${ctx.applicationName}-setup` });
    try {
      await migrate(pool, ctx.ownerSchema);
      await pool.query(productsTableSql(ctx.ownerSchema));
      await migrate(pool, ctx.readerSchema);
      await pool.query(productsTableSql(ctx.readerSchema));
    } finally {
      await pool.end();
    }
  },

  teardown: dropRunState,

  openOutbox(ctx: BenchContext): Promise<OutboxAppender> {
    const topic = productTopic(ctx);
    const mode = ctx.options.datasyncNotify;
    const writer = new OutboxWriter({ service: OWNER, schema: ctx.ownerSchema, notify: mode === 'in-transaction' });
    // One connection suffices: the notifier keeps at most one NOTIFY in flight.
    const notifyPool = new pg.Pool({ connectionString: ctx.postgresUrl, max: 1, application_name: `${ctx.applicationName}-notify` });
    notifyPool.on('error', () => undefined);
    const notifier = new OutboxNotifier(notifyPool, ctx.ownerSchema);
    return Promise.resolve({
      async append(tx, event) {
        await writer.publish(tx, topic, event);
      },
      committed: mode === 'after-commit' ? () => notifier.notify() : undefined,
      close: async () => {
        await notifier.settled();
        await notifyPool.end();
      },
    });
  },

  async startRelay(ctx: BenchContext): Promise<Stoppable> {
    const transport = await openTransport(ctx);
    const relay = await startRelay({
      connectionString: ctx.postgresUrl,
      clientConfig: { application_name: `${ctx.applicationName}-relay` },
      schema: ctx.ownerSchema,
      publisher: transport.publisher,
      pollIntervalMs: ctx.options.datasyncRelayPollMs,
      hooks: { onError: (error) => log(ctx, 'relay', error) },
    });
    let closing: Promise<void> | undefined;
    return {
      close: () =>
        (closing ??= (async () => {
          await relay.close();
          await transport.close();
        })()),
    };
  },

  async startConsumer(ctx: BenchContext, onCommitted: OnCommitted): Promise<Stoppable> {
    const topic = productTopic(ctx);
    const readerSchema = ctx.readerSchema;
    const pool = new pg.Pool({ connectionString: ctx.postgresUrl, max: 10, idleTimeoutMillis: 0, application_name: `${ctx.applicationName}-consumer` });
    pool.on('error', () => undefined);
    const transport = await openTransport(ctx);
    const service = defineService({
      name: CONSUMER,
      schema: readerSchema,
      // One multi-row upsert per consumer transaction, as the baseline does per read batch.
      handlers: [onBatch(topic, async ({ events, tx }) => {
        const applied = await applyProductsIfNewer(tx, readerSchema, events.map((e) => e.data));
        return events.map((e) => (applied.has(e.data.id) ? 'applied' : 'stale'));
      })],
    });
    // the runtime stamps commits with this process's performance clock; convert to the bench clock
    const offsetMs = performance.timeOrigin + performance.now() - benchNowMs();
    const consumer = await startConsumer(service, {
      pool,
      transport,
      concurrency: ctx.options.datasyncConcurrency,
      hooks: {
        onSettled(info) {
          if (info.outcome === 'dead_lettered') {
            log(ctx, 'consumer', `event ${info.event?.id ?? info.deliveryId} was dead-lettered`);
            return;
          }
          if (info.event) onCommitted(info.event.data as ProductEvent, info.committedAtMs - offsetMs);
        },
        onError: (error) => log(ctx, 'consumer', error),
      },
    });
    let closing: Promise<void> | undefined;
    const stoppable: Stoppable = {
      close: () =>
        (closing ??= (async () => {
          await consumer.close();
          await transport.close();
          await pool.end();
        })()),
    };
    // the runtime subscribes in the background; the relay may start only once the group's queue exists
    await untilGroupSubscribed(ctx, CONSUMER, 30_000).catch(async (error: unknown) => {
      await stoppable.close();
      throw error;
    });
    return stoppable;
  },
};
