import { connect, type Channel, type RecoveringChannelModel } from 'amqplib';
import { untilAborted } from '../../core/abort.js';
import { ServerUnreachableError } from '../../core/errors.js';
import { MAX_BACKOFF_MS } from '../backoff.js';
import { connectTimeoutSignal } from '../connect-timeout.js';
import { amqpAddressOf, type ResolvedRabbitMqConfig } from './config.js';

export const ignore = (): void => undefined;

/**
 * Opens amqplib's recovering connection and waits for the first connection. Rejects with
 * {@link ServerUnreachableError} naming `host:port` when RabbitMQ does not answer within
 * `connectTimeoutMs` (no retry at start-up). Once connected, amqplib reconnects on its own
 * after a loss, backing off from 100 ms to at most 2 s (with jitter), for as long as the
 * connection is not closed; channels are not recovered: their owners open new ones.
 */
export async function openConnection(config: ResolvedRabbitMqConfig): Promise<RecoveringChannelModel> {
  const address = amqpAddressOf(config.url)!;
  const model = await connect(config.url, {
    timeout: config.connectTimeoutMs,
    clientProperties: { connection_name: 'datasync' },
    recovery: {
      initialDelay: 100,
      factor: 2,
      maxDelay: MAX_BACKOFF_MS,
      jitter: 0.2,
      initialMaxRetries: 0,
      maxRetries: Infinity,
      waitForConnect: false,
    },
  });
  // Connection errors also close the connection, which recovery handles; the event must not go unhandled.
  model.on('error', ignore);
  model.on('handler-error', ignore);
  try {
    await untilAborted(model.waitForConnect(), connectTimeoutSignal(config.connectTimeoutMs));
  } catch (cause) {
    await model.close().catch(ignore);
    throw new ServerUnreachableError('RabbitMQ', address, { cause });
  }
  return model;
}

/**
 * Closes a channel unless it is closed already; never throws. Resolves on the broker's CloseOk,
 * or when the channel closes otherwise (its connection died before the CloseOk came).
 */
export function closeChannelQuietly(channel: Channel): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      channel.removeListener('close', done);
      resolve();
    };
    channel.once('close', done);
    try {
      channel.close().then(done, done);
    } catch {
      done(); // closed already: amqplib throws
    }
  });
}

/**
 * Group declarations in progress per topic. A publish through the same transport waits for
 * those of its topic that started before it, so a subscriber created just before a publish
 * does not miss its events because its queue was not bound yet.
 */
export class PendingDeclarations {
  readonly #byTopic = new Map<string, Set<Promise<unknown>>>();

  add(topic: string, declaration: Promise<unknown>): void {
    let pending = this.#byTopic.get(topic);
    if (!pending) this.#byTopic.set(topic, (pending = new Set()));
    pending.add(declaration);
    const forget = (): void => {
      pending.delete(declaration);
      if (pending.size === 0 && this.#byTopic.get(topic) === pending) this.#byTopic.delete(topic);
    };
    declaration.then(forget, forget);
  }

  /** Resolves once every declaration of `topic` started so far has settled (successful or not). */
  async settled(topic: string): Promise<void> {
    const pending = this.#byTopic.get(topic);
    if (pending) await Promise.allSettled([...pending]);
  }
}

