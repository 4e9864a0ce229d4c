import type { Topic } from '../core/contracts.js';
import type { CloudEvent } from '../core/envelope.js';
import { OutboxNotifier } from '../postgres/outbox-notifier.js';
import { OutboxWriter, type PublishOptions } from '../postgres/outbox-writer.js';
import type { SqlExecutor, SqlPool } from '../postgres/sql.js';
import { inTransaction } from '../postgres/sql.js';

/** An open transaction of an owner service that can also publish events. */
export interface ProducerTransaction extends SqlExecutor {
  /** Validates `data` against the topic's schema and writes the event to the outbox in this transaction. */
  publish<T>(topic: Topic<T>, data: T, options?: PublishOptions): Promise<CloudEvent<T>>;
}

/** Configuration of {@link createProducer}. */
export interface ProducerConfig {
  /** The owner service's name (envelope `source`; must be among the topic's publishers). */
  readonly service: string;
  readonly pool: SqlPool;
  /** Schema holding the outbox; default the service name. */
  readonly schema?: string;
  /** Wake the relay with a NOTIFY after each commit that published (coalesced); default true. */
  readonly notify?: boolean;
}

/** An owner's handle for changing data and publishing the change atomically. */
export interface Producer {
  readonly writer: OutboxWriter;
  /**
   * Wakes the relay; `transaction()` calls it after each commit that published. Call it
   * yourself after committing a transaction in which you used `writer` directly.
   */
  readonly notifier: OutboxNotifier;
  /** Runs `work` in one transaction; its data and its events commit or roll back together. */
  transaction<T>(work: (tx: ProducerTransaction) => Promise<T>): Promise<T>;
  /**
   * Publishes within a transaction someone else opened, e.g. a consumer handler's `tx`: the
   * event commits or rolls back with the handler's writes. Set `causationId` to the consumed
   * event's id so the chain can be followed. Call `notifier.notify()` once the transaction has
   * committed (a consumer's `onSettled` hook is a good place; the relay also polls at least
   * every second): a NOTIFY sent inside the transaction would serialise every commit that
   * sends one (see OutboxNotifier).
   */
  publishWithin<T>(tx: SqlExecutor, topic: Topic<T>, data: T, options?: PublishOptions): Promise<CloudEvent<T>>;
}

/** Creates a producer for an owner service (transactional outbox). */
export function createProducer(config: ProducerConfig): Producer {
  const writer = new OutboxWriter({ service: config.service, schema: config.schema });
  const notifier = new OutboxNotifier(config.pool, writer.schema);
  const wake = config.notify !== false;
  return {
    writer,
    notifier,
    async transaction(work) {
      let published = false;
      const result = await inTransaction(config.pool, (tx) => {
        const producerTx: ProducerTransaction = {
          query: (sql, params) => tx.query(sql, params),
          publish: (topic, data, options) => {
            published = true;
            return writer.publish(tx, topic, data, options);
          },
        };
        return work(producerTx);
      });
      if (published && wake) notifier.notify();
      return result;
    },
    publishWithin: (tx, topic, data, options) => writer.publish(tx, topic, data, options),
  };
}
