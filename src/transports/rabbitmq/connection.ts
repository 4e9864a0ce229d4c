import { connect, type Channel, type RecoveringChannelModel } from 'amqplib';
import { ServerUnreachableError } from '../../core/errors.js';
import { amqpAddressOf, type ResolvedRabbitMqConfig } from './config.js';

/** Longest wait between two reconnect attempts, or two retries of a failed channel. */
export const MAX_BACKOFF_MS = 2_000;

/** Exponential backoff from 100 ms, doubling, capped at {@link MAX_BACKOFF_MS}; `failures` counts from 1. */
export function backoffMs(failures: number): number {
  return Math.min(100 * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS);
}

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
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${config.connectTimeoutMs} ms`)), config.connectTimeoutMs);
    });
    await Promise.race([model.waitForConnect(), timeout]);
  } catch (cause) {
    await model.close().catch(ignore);
    throw new ServerUnreachableError('RabbitMQ', address, { cause });
  } finally {
    clearTimeout(timer);
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

/** Tracks promises in flight so close() can wait for them. */
export class InFlight {
  readonly #promises = new Set<Promise<unknown>>();

  track<T>(promise: Promise<T>): Promise<T> {
    this.#promises.add(promise);
    const forget = (): void => void this.#promises.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  async settled(): Promise<void> {
    while (this.#promises.size > 0) await Promise.allSettled([...this.#promises]);
  }
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

/** Sleeps `ms`, or less when one of `signals` aborts (then resolves too). */
export function pause(ms: number, ...signals: (AbortSignal | undefined)[]): Promise<void> {
  return new Promise((resolve) => {
    const live = signals.filter((signal): signal is AbortSignal => signal !== undefined);
    if (live.some((signal) => signal.aborted)) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      for (const signal of live) signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const signal of live) signal.addEventListener('abort', done, { once: true });
  });
}
