import pg from 'pg';
import { Redis } from 'ioredis';
import { quoteIdent } from '../../src/postgres/sql.js';
import { withTimeout } from './clock.js';
import { rabbitMqQueuesOf } from './broker-state.js';
import { CONSUMER_GROUP, type BenchContext } from './system.js';

/** The longest one broker's cleanup may take; a broker that does not answer in time is left as it is. */
const BROKER_CLEANUP_MS = 5_000;
/** The longest the PostgreSQL cleanup (schemas, transport rows) may take. */
const POSTGRES_CLEANUP_MS = 20_000;

/**
 * Drops a run's state, every step on its own, each bounded in time; a step that fails is
 * logged and never fails the run:
 * - its two PostgreSQL schemas, with every table in them;
 * - the broker state of the run's topic (`ctx.topic`, which contains the run tag) and of its
 *   dead letters (`<topic>.dlq`): Redis keys containing the run tag; the NATS stream of the
 *   run's subject family (the run tag is the topic's first token, so the stream is the run's
 *   own); the RabbitMQ queues of the run's topic; the PostgreSQL transport's rows of the topic.
 * Idempotent; used by every system's `teardown`.
 */
export async function dropRunState(ctx: BenchContext): Promise<void> {
  const steps: [string, () => Promise<void>, number][] = [['PostgreSQL schemas', () => dropSchemas(ctx), POSTGRES_CLEANUP_MS]];
  switch (ctx.transport) {
    case 'redis-streams':
      steps.push(['Redis keys', () => dropRedisKeys(ctx), BROKER_CLEANUP_MS]);
      break;
    case 'nats-jetstream':
      steps.push(['NATS JetStream stream', () => dropNatsStreams(ctx), BROKER_CLEANUP_MS]);
      break;
    case 'rabbitmq':
      steps.push(['RabbitMQ queues', () => dropRabbitMqQueues(ctx), BROKER_CLEANUP_MS]);
      break;
    case 'postgres':
      steps.push(['PostgreSQL transport rows', () => dropPostgresTransportRows(ctx), POSTGRES_CLEANUP_MS]);
      break;
  }
  await Promise.all(
    steps.map(([what, step, ms]) =>
      withTimeout(step(), ms, what).catch((error: Error) => console.error(`[bench] cleanup of ${ctx.runTag}: ${what}: ${error.message}`)),
    ),
  );
}

/** The topics a run publishes to: its own and its dead letters' (the runtime's `<topic>.dlq`). */
function runTopics(ctx: BenchContext): string[] {
  return [ctx.topic, `${ctx.topic}.dlq`];
}

async function dropSchemas(ctx: BenchContext): Promise<void> {
  const client = new pg.Client({ connectionString: ctx.postgresUrl, application_name: `${ctx.applicationName}-cleanup`, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(ctx.ownerSchema)}, ${quoteIdent(ctx.readerSchema)} CASCADE`);
  } finally {
    await client.end();
  }
}

/** Every Redis key whose name contains the run tag (the topic stream, its dead-letter stream, …). */
async function dropRedisKeys(ctx: BenchContext): Promise<void> {
  const redis = new Redis(ctx.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: BROKER_CLEANUP_MS, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
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

/**
 * The NATS JetStream transport keeps one stream per subject family (the topic's first token,
 * src/transports/nats-jetstream/README.md): for the run's topic `<runTag>.product.updated`
 * that is `DATASYNC_<RUNTAG>`, capturing `<runTag>.>`, the run's own. Deleting it deletes its
 * durable consumers too. A stream that captures the topic but is not the run's own (one an
 * operator made for many families) is only purged of the run's subjects, and the run's
 * consumers on it are deleted.
 */
async function dropNatsStreams(ctx: BenchContext): Promise<void> {
  // imported here, so that a run over another transport never depends on this one's modules
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const { DEFAULT_NATS_JETSTREAM_CONFIG, natsServersOf } = await import('../../src/transports/nats-jetstream/config.js');
  const { streamNameFor } = await import('../../src/transports/nats-jetstream/naming.js');
  const servers = natsServersOf(ctx.natsUrl);
  if (!servers) throw new Error(`not a NATS URL: ${ctx.natsUrl}`);
  const { addresses, user, pass, token } = servers;
  const nc = await connect({ servers: [...addresses], user, pass, token, timeout: BROKER_CLEANUP_MS, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc, { timeout: BROKER_CLEANUP_MS });
    const own = streamNameFor(ctx.topic, DEFAULT_NATS_JETSTREAM_CONFIG.streamPrefix);
    for (const stream of await jsm.streams.names(ctx.topic).next()) {
      if (stream === own) {
        await jsm.streams.delete(stream);
        continue;
      }
      await jsm.streams.purge(stream, { filter: `${ctx.runTag}.>` });
      for (const consumer of await jsm.consumers.list(stream).next()) {
        const filters = [consumer.config.filter_subject, ...(consumer.config.filter_subjects ?? [])];
        if (filters.some((subject) => subject?.startsWith(`${ctx.runTag}.`))) await jsm.consumers.delete(stream, consumer.name);
      }
    }
  } finally {
    await nc.close();
  }
}

/**
 * The RabbitMQ queues the transport declared for the run's topics and the bench's consumer
 * group (names from its README), deleted by name; deleting a queue that does not exist succeeds.
 */
async function dropRabbitMqQueues(ctx: BenchContext): Promise<void> {
  const { connect } = await import('amqplib');
  const connection = await connect(ctx.amqpUrl, { timeout: BROKER_CLEANUP_MS });
  connection.on('error', () => undefined);
  try {
    for (const queue of await rabbitMqQueuesOf(runTopics(ctx), CONSUMER_GROUP)) {
      // a channel per delete: a channel error (e.g. a queue in use) closes only that channel
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      try {
        await channel.deleteQueue(queue);
      } finally {
        await channel.close().catch(() => undefined);
      }
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * The PostgreSQL transport keeps every topic in shared tables of its schema (`datasync_transport`
 * by default, src/transports/postgres/README.md): the run's rows of `topic_log`, `group_offsets`
 * and `claims` are deleted; tables that do not exist (the transport never ran) are skipped.
 */
async function dropPostgresTransportRows(ctx: BenchContext): Promise<void> {
  const { DEFAULT_POSTGRES_TRANSPORT_CONFIG } = await import('../../src/transports/postgres/config.js');
  const schema = DEFAULT_POSTGRES_TRANSPORT_CONFIG.schema;
  const client = new pg.Client({ connectionString: ctx.postgresUrl, application_name: `${ctx.applicationName}-cleanup`, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    for (const table of ['claims', 'group_offsets', 'topic_log']) {
      const { rows } = await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [`${quoteIdent(schema)}.${quoteIdent(table)}`]);
      if (rows[0]?.exists) await client.query(`DELETE FROM ${quoteIdent(schema)}.${quoteIdent(table)} WHERE topic = ANY($1::text[])`, [runTopics(ctx)]);
    }
  } finally {
    await client.end();
  }
}
