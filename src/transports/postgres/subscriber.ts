import { ArgumentError } from '../../core/errors.js';
import type { Delivery, SubscribeOptions, Subscriber } from '../transport.js';
import { closedError, InFlight, type TransportConnection } from './connection.js';
import { LogSubscription, type SubscriptionHost } from './subscription.js';

/**
 * Gives each consumer group every event of a topic, the members of a group sharing the work
 * (see {@link LogSubscription}). All subscriptions of a transport share its pool and one LISTEN
 * connection. `close()` ends every subscription, waits for the statements in flight (fetches,
 * acks, keep-alives) and makes later `ack()`/`nack()` calls no-ops. Idempotent.
 */
export class PostgresSubscriber implements Subscriber, SubscriptionHost {
  readonly connection: TransportConnection;
  readonly #subscriptions = new Set<LogSubscription>();
  readonly #inFlight = new InFlight();
  readonly #abort = new AbortController();
  #closing: Promise<void> | undefined;

  constructor(connection: TransportConnection) {
    this.connection = connection;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  get closing(): AbortSignal {
    return this.#abort.signal;
  }

  track<T>(promise: Promise<T>): Promise<T> {
    return this.#inFlight.track(promise);
  }

  forget(subscription: LogSubscription): void {
    this.#subscriptions.delete(subscription);
  }

  subscribe(topic: string, opts: SubscribeOptions): AsyncIterable<Delivery> {
    if (this.#closing) throw closedError('subscriber');
    if (typeof topic !== 'string' || topic === '') throw new ArgumentError('topic', topic, 'a non-empty string');
    for (const field of ['group', 'consumer'] as const) {
      if (typeof opts[field] !== 'string' || opts[field] === '') throw new ArgumentError(field, opts[field], 'a non-empty string');
    }
    if (opts.batchSize !== undefined && !(Number.isSafeInteger(opts.batchSize) && opts.batchSize > 0 && opts.batchSize <= 100_000)) {
      throw new ArgumentError('batchSize', opts.batchSize, 'a positive integer (at most 100000)');
    }
    const subscription = new LogSubscription(this, topic, opts);
    if (!opts.signal.aborted) this.#subscriptions.add(subscription);
    return subscription;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const subscription of [...this.#subscriptions]) subscription.end();
    this.#abort.abort();
    await this.#inFlight.settled();
    await this.connection.listener.stop();
  }
}
