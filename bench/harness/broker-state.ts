import type { TransportName } from '../../src/transports/connect.js';
import { sleep } from './clock.js';
import type { BenchContext } from './system.js';

/**
 * What the bench needs to know of a broker outside the transport itself: its version (for
 * the result JSON), the names of the queues a RabbitMQ run creates (for cleanup), and when a
 * consumer's queue exists (for the start order of a run). Each transport's README documents
 * the names used here.
 */

/**
 * The RabbitMQ queues the transport declares for `group` on `topics` (src/transports/rabbitmq/README.md,
 * "Topology"): the group queue `<group>.<topic>` and its dead-letter queue `<group>.<topic>.dlq`.
 * The exchanges (`datasync`, `datasync.dlx`) are shared by every topic and stay.
 */
export async function rabbitMqQueuesOf(topics: readonly string[], group: string): Promise<string[]> {
  // imported here, so that a run over another transport never depends on this one's modules
  const { queueNameOf, deadLetterQueueOf } = await import('../../src/transports/rabbitmq/topology.js');
  const queues = topics.flatMap((topic) => [queueNameOf(group, topic), deadLetterQueueOf(queueNameOf(group, topic))]);
  return [...new Set(queues)];
}

/**
 * Resolves once the consumer group `group` is subscribed to the run's topic on the broker,
 * so that what the relay publishes from then on reaches it. Only RabbitMQ needs a wait: it
 * routes a message to the queues bound at that moment, and the runtime declares its queue in
 * the background after `startConsumer` resolved. The other transports replay to a group
 * created later (Redis Streams and NATS JetStream from the stream's start, the PostgreSQL
 * transport from the log's), so for them this resolves at once.
 */
export async function untilGroupSubscribed(ctx: BenchContext, group: string, timeoutMs: number): Promise<void> {
  if (ctx.transport !== 'rabbitmq') return;
  const { connect } = await import('amqplib');
  const { queueNameOf } = await import('../../src/transports/rabbitmq/topology.js');
  const queue = queueNameOf(group, ctx.topic);
  const connection = await connect(ctx.amqpUrl, { timeout: 5_000 });
  connection.on('error', () => undefined);
  try {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // checkQueue on a missing queue closes its channel (404): a channel per try
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      const found = await channel.checkQueue(queue).then(
        (reply) => reply.consumerCount > 0,
        () => false,
      );
      await channel.close().catch(() => undefined);
      if (found) return;
      if (performance.now() > deadline) throw new Error(`the RabbitMQ queue ${queue} of group ${group} has no consumer after ${Math.round(timeoutMs / 1000)} s`);
      await sleep(50);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** The version the broker of `transport` reports, asked with a 5 s limit; rejects when it does not answer. */
export async function brokerVersion(transport: TransportName, urls: { readonly natsUrl: string; readonly amqpUrl: string }): Promise<string> {
  switch (transport) {
    case 'nats-jetstream': {
      const { connect } = await import('@nats-io/transport-node');
      const { natsServersOf } = await import('../../src/transports/nats-jetstream/config.js');
      const servers = natsServersOf(urls.natsUrl);
      if (!servers) throw new Error(`not a NATS URL: ${urls.natsUrl}`);
      const nc = await connect({ servers: [...servers.addresses], user: servers.user, pass: servers.pass, token: servers.token, timeout: 5_000, reconnect: false });
      try {
        return nc.info?.version ?? 'unknown';
      } finally {
        await nc.close();
      }
    }
    case 'rabbitmq': {
      const { connect } = await import('amqplib');
      const connection = await connect(urls.amqpUrl, { timeout: 5_000 });
      connection.on('error', () => undefined);
      try {
        return String(connection.connection.serverProperties.version ?? 'unknown');
      } finally {
        await connection.close().catch(() => undefined);
      }
    }
    default:
      return 'n/a';
  }
}
