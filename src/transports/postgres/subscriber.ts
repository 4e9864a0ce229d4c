import { ArgumentError } from '../../core/errors.js';
import { checkBatchSize, checkGroupAndConsumer } from '../argument-checks.js';
import { InFlight } from '../in-flight.js';
import { OpenSubscriptions } from '../pull-iterator.js';
import type { Delivery, SubscribeOptions, Subscriber } from '../transport.js';
import { closedError, describeFailure, type TransportConnection } from './connection.js';
import { LogSubscription, type SubscriptionHost } from './subscription.js';

/**
 * Gives each consumer group every event of a topic, the members of a group sharing the work
 * (see {@link LogSubscription}). All subscriptions of a transport share its pool and one LISTEN
 * connection. `close()` ends every subscription, waits for the statements in flight (fetches,
 * acks, keep-alives) and makes later `ack()`/`nack()` calls no-ops. Idempotent.
 */
export class PostgresSubscriber implements Subscriber, SubscriptionHost {
  readonly connection: TransportConnection;
  readonly #subscriptions = new OpenSubscriptions<LogSubscription>();
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

  subscribe(topic: string, opts: SubscribeOptions): AsyncIterable<Delivery> {
    if (this.#closing) throw closedError('subscriber');
    if (typeof topic !== 'string' || topic === '') throw new ArgumentError('topic', topic, 'a non-empty string');
    checkGroupAndConsumer(opts);
    checkBatchSize(opts.batchSize, { max: 100_000 });
    return this.#subscriptions.add(new LogSubscription(this, topic, opts));
  }

  /**
   * `Transport.lag`, one statement (`statements.lag`): rows of `topic` after the group's offset
   * plus the group's claims. Undefined until a member of the group has subscribed to the topic
   * (its offset row exists from then on). A lost connection rejects with ServerUnreachableError.
   */
  async lag(topic: string, group: string): Promise<number | undefined> {
    if (this.#closing) throw closedError('subscriber');
    const { pool, statements, address } = this.connection;
    const result = await this.track(pool.query<{ lag: string }>({ ...statements.lag, values: [group, topic] })).catch((error: unknown) => {
      throw describeFailure(error, address);
    });
    const row = result.rows[0];
    return row === undefined ? undefined : Number(row.lag);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#subscriptions.endAll();
    this.#abort.abort();
    await this.#inFlight.settled();
    await this.connection.listener.stop();
  }
}
