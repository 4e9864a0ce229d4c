import type { Channel } from 'amqplib';
import { ArgumentError, ConfigurationError } from '../../core/errors.js';
import type { ResolvedRabbitMqConfig } from './config.js';

/**
 * The exchanges and queues of the RabbitMQ transport (README, "Topology"):
 *
 * - `<exchange>`: durable topic exchange; events are published with routing key = topic.
 * - `<group>.<topic>`: one durable quorum queue per consumer group and topic, bound to
 *   `<exchange>` with the topic as binding key; the members of the group consume it together.
 * - `<exchange>.dlx`: durable topic exchange receiving what a group queue dead-letters, with
 *   routing key = the group queue's name.
 * - `<group>.<topic>.dlq`: durable quorum queue bound to `<exchange>.dlx` with the group
 *   queue's name, so each group's dead letters stay apart.
 */

/** Name of the queue of `group` for `topic`. */
export function queueNameOf(group: string, topic: string): string {
  return `${group}.${topic}`;
}

/** Name of the dead-letter queue of a group queue. */
export function deadLetterQueueOf(queue: string): string {
  return `${queue}.dlq`;
}

/** Name of the dead-letter exchange of `exchange`. */
export function deadLetterExchangeOf(exchange: string): string {
  return `${exchange}.dlx`;
}

/** AMQP short strings (routing keys, queue names) hold at most 255 bytes. */
const SHORT_STRING_BYTES = 255;

/**
 * Throws {@link ArgumentError} unless `topic` can be a routing key and a binding key that
 * matches only itself: non-empty, at most 255 bytes, no `*` or `#` (topic-exchange wildcards).
 */
export function checkTopic(topic: string): void {
  if (typeof topic !== 'string' || topic === '' || /[*#]/.test(topic) || Buffer.byteLength(topic) > SHORT_STRING_BYTES) {
    throw new ArgumentError('topic', topic, 'a non-empty name of at most 255 bytes without * or # (RabbitMQ routing key)');
  }
}

/** Throws {@link ArgumentError} unless `group` names a queue (and its `.dlq`) for `topic` that RabbitMQ accepts. */
export function checkGroup(group: string, topic: string): void {
  checkTopic(topic);
  if (typeof group !== 'string' || group === '' || /[*#]/.test(group) || group.startsWith('amq.')) {
    throw new ArgumentError('group', group, 'a non-empty name without * or #, not starting with "amq."');
  }
  if (Buffer.byteLength(deadLetterQueueOf(queueNameOf(group, topic))) > SHORT_STRING_BYTES) {
    throw new ArgumentError('group', group, `a name short enough that "${deadLetterQueueOf(queueNameOf(group, '<topic>'))}" fits 255 bytes`);
  }
}

/** The arguments of a group queue; RabbitMQ refuses to re-declare a queue with different ones. */
export function groupQueueArguments(config: ResolvedRabbitMqConfig, queue: string): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': config.deliveryLimit,
    'x-dead-letter-exchange': deadLetterExchangeOf(config.exchange),
    'x-dead-letter-routing-key': queue,
    // The dead letter is confirmed by the dead-letter queue before the group queue lets go of it.
    'x-dead-letter-strategy': 'at-least-once',
    // Required by at-least-once dead-lettering: with a max-length policy, publishes are refused (nacked) rather than dropped.
    'x-overflow': 'reject-publish',
  };
}

/** Declares the publishing side: the topic exchange. Idempotent. */
export async function declareExchange(channel: Channel, config: ResolvedRabbitMqConfig): Promise<void> {
  try {
    await channel.assertExchange(config.exchange, 'topic', { durable: true });
  } catch (error) {
    throw permanentDeclareError(error, config, config.exchange) ?? error;
  }
}

/**
 * Declares everything one group of one topic needs (see the module comment), dead-letter side
 * first so nothing is dead-lettered before its queue exists. Idempotent. A queue that exists with
 * other arguments (another `deliveryLimit`, a classic queue of the same name) is reported as a
 * {@link ConfigurationError}; connection failures are thrown as they are.
 */
export async function declareGroupTopology(channel: Channel, config: ResolvedRabbitMqConfig, topic: string, group: string): Promise<void> {
  const queue = queueNameOf(group, topic);
  const deadLetterExchange = deadLetterExchangeOf(config.exchange);
  const deadLetterQueue = deadLetterQueueOf(queue);
  let name = config.exchange;
  try {
    await channel.assertExchange(config.exchange, 'topic', { durable: true });
    name = deadLetterExchange;
    await channel.assertExchange(deadLetterExchange, 'topic', { durable: true });
    name = deadLetterQueue;
    await channel.assertQueue(deadLetterQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await channel.bindQueue(deadLetterQueue, deadLetterExchange, queue);
    name = queue;
    await channel.assertQueue(queue, { durable: true, arguments: groupQueueArguments(config, queue) });
    await channel.bindQueue(queue, config.exchange, topic);
  } catch (error) {
    throw permanentDeclareError(error, config, name, group) ?? error;
  }
}

/** The AMQP reply code of a channel or connection error, when it has one. */
export function replyCodeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * A declaration RabbitMQ refused for good (403 access refused, 406 precondition failed, 530 not
 * allowed) as a {@link ConfigurationError} naming the field to change; `undefined` for anything
 * else (a lost connection), which is worth retrying.
 */
function permanentDeclareError(error: unknown, config: ResolvedRabbitMqConfig, name: string, group?: string): ConfigurationError | undefined {
  const code = replyCodeOf(error);
  if (code !== 403 && code !== 406 && code !== 530) return undefined;
  const reason = error instanceof Error ? error.message : String(error);
  if (code === 403 || code === 530) {
    return new ConfigurationError('url', `${name}`, `a user and vhost allowed to configure, write and read "${name}" (RabbitMQ: ${reason})`);
  }
  if (reason.includes('x-delivery-limit')) {
    return new ConfigurationError('deliveryLimit', config.deliveryLimit, `the limit queue "${name}" was declared with, or delete that queue first (RabbitMQ: ${reason})`);
  }
  if (name === config.exchange || name === deadLetterExchangeOf(config.exchange)) {
    return new ConfigurationError('exchange', config.exchange, `an exchange name not already declared with other settings (RabbitMQ: ${reason})`);
  }
  return new ConfigurationError('group', group, `a group whose queue "${name}" is not already declared with other arguments (RabbitMQ: ${reason})`);
}
