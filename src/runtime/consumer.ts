import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { CloudEvent } from '../core/envelope.js';
import { orderingKeyOf, parseEnvelope } from '../core/envelope.js';
import { ConfigurationError, SyncError } from '../core/errors.js';
import { newInstanceId } from '../core/ids.js';
import { DeadLetterStore } from '../postgres/dead-letter-store.js';
import { migrate } from '../postgres/migrations.js';
import { ProcessedEvents } from '../postgres/processed-events.js';
import type { SqlPool } from '../postgres/sql.js';
import { SyncMetrics, type Unwatch } from '../observability/sync-metrics.js';
import { createRetryRunner, retryWithDefaults, type BackoffOptions, type RetryOptions } from '../resilience/retry-policy.js';
import type { Delivery, Transport } from '../transports/transport.js';
import { declareSubscriberGroups } from './topology.js';
import { GroupCommitter, type GroupCommitConfig } from './group-commit.js';
import { deadLetter } from './middleware/dead-letter.js';
import { envelopeCheck } from './middleware/envelope-check.js';
import { idempotency } from './middleware/idempotency.js';
import { retryFailures } from './middleware/retry.js';
import { runInSpanContext, traceProcess } from './middleware/tracing.js';
import { inConsumerTransaction, type ClaimTag } from './middleware/transaction.js';
import { validateSchema } from './middleware/validate.js';
import { OrderedLanes } from './ordered-lanes.js';
import { compose, type Handler, type InboundMessage, type Outcome } from './pipeline.js';
import type { Service, Subscription } from './service.js';

/** What the consumer reports after each delivery is settled (committed and acked, or dead-lettered). */
export interface SettledInfo {
  readonly topic: string;
  readonly deliveryId: string;
  readonly event?: CloudEvent;
  readonly outcome: Outcome;
  /** Tries this delivery took. */
  readonly attempts: number;
  /** When the consumer's transaction had committed, epoch ms with sub-ms fraction. */
  readonly committedAtMs: number;
}

/** Callbacks for tests, metrics and logs. They must not throw. */
export interface ConsumerHooks {
  onSettled?(info: SettledInfo): void;
  /** Awaited after the transaction committed and before the ack; for crash tests (a process killed here must lose nothing). */
  beforeAck?(info: SettledInfo): Promise<void> | void;
  /** An error the consumer survived: a subscription that failed and is resubscribing, an ack that failed, a delivery given back. */
  onError?(error: unknown, context: { topic: string; deliveryId?: string }): void;
}

/** Configuration of {@link startConsumer}. */
export interface ConsumerConfig {
  /** Connections for the consumer's transactions and dead-letter records. Required. */
  readonly pool: SqlPool;
  /** The broker: its subscriber feeds the handlers, its publisher carries `<topic>.dlq`. Required. */
  readonly transport: Pick<Transport, 'subscriber' | 'publisher' | 'declareGroup' | 'lag'>;
  /** Names this instance within the consumer group; default a random id. */
  readonly instanceId?: string;
  /** Entities handled at once (ordered lanes running concurrently). Default 64. */
  readonly concurrency?: number;
  /** Deliveries accepted and not yet settled, at most; the back-pressure on the broker. Default 1024. */
  readonly maxInFlight?: number;
  /** Messages fetched per read. Default 100. */
  readonly fetchBatchSize?: number;
  /** Retry policy; default `maxRetries 3`, backoff 100 ms doubling to 2 s with jitter. */
  readonly retry?: Partial<Omit<RetryOptions, 'backoff'>> & { backoff?: Partial<BackoffOptions> };
  /** Group commit of consumer transactions; default at most 128 events per transaction, 1 in flight. */
  readonly groupCommit?: GroupCommitConfig;
  /** Apply datasync's and the service's migrations at start. Default true. */
  readonly migrate?: boolean;
  /** Delay before a delivery that failed outside the handler (e.g. the database was down while dead-lettering) is tried again. Default 1000 ms. */
  readonly redeliveryDelayMs?: number;
  readonly hooks?: ConsumerHooks;
  /**
   * Where the consumer reports its sync latency, outcomes, freshness, dead-letter depth and lag
   * (DESIGN.md section 3); default datasync's registry (`SyncMetrics.for()`); false for none.
   */
  readonly metrics?: SyncMetrics | false;
}

/** Defaults of {@link ConsumerConfig}. */
export const DEFAULT_CONSUMER_CONFIG: Readonly<Required<Pick<ConsumerConfig, 'concurrency' | 'maxInFlight' | 'fetchBatchSize' | 'migrate' | 'redeliveryDelayMs'>>> = Object.freeze({
  concurrency: 64,
  maxInFlight: 1024,
  fetchBatchSize: 100,
  migrate: true,
  redeliveryDelayMs: 1_000,
});

/** Counts of settled deliveries by outcome, plus retries. */
export interface ConsumerStats {
  applied: number;
  duplicate: number;
  stale: number;
  retried: number;
  dead_lettered: number;
  inFlight: number;
  transactions: number;
}

/** How many settled event ids `whenProcessed` remembers. */
const RECENT_OUTCOMES = 10_000;

function validatePositiveInt(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new ConfigurationError(field, value, 'a whole number ≥ 1');
}

/**
 * The ordered lane of an event: its publisher and entity key. Order is defined per owner's
 * entity (one relay publishes an owner's outbox in commit order); events of different
 * publishers that share a key (a product's price from Pricing, the product from Catalog) are
 * not ordered against each other, so one held for the other (retried until it arrives) must not
 * block it in the same lane (docs/decisions.md 23).
 */
export function laneOf(event: CloudEvent): string {
  return `${event.source}\u0000${orderingKeyOf(event)}`;
}

/**
 * A running consumer of one service: one subscription per handled topic, events of one
 * entity in order, different entities concurrently, each event's effect committed
 * exactly once, acked only after commit.
 */
export class Consumer {
  readonly service: Service;
  readonly instanceId: string;
  readonly #config: ConsumerConfig & Required<Pick<ConsumerConfig, 'concurrency' | 'maxInFlight' | 'fetchBatchSize' | 'migrate' | 'redeliveryDelayMs'>>;
  readonly #abort = new AbortController();
  readonly #lanes: OrderedLanes;
  readonly #committer: GroupCommitter<ClaimTag, boolean>;
  /** Acks sent and not yet answered; close() waits for them. */
  readonly #acks = new Set<Promise<void>>();
  readonly #pipeline: Handler;
  readonly #stats: ConsumerStats = { applied: 0, duplicate: 0, stale: 0, retried: 0, dead_lettered: 0, inFlight: 0, transactions: 0 };
  readonly #waiters = new Map<string, ((outcome: Outcome) => void)[]>();
  /** Latest outcome per recently settled event id, oldest first, at most RECENT_OUTCOMES. */
  readonly #recent = new Map<string, Outcome>();
  readonly #pumps: Promise<void>[] = [];
  readonly #metrics: SyncMetrics | undefined;
  readonly #unwatch: Unwatch[] = [];
  #closing: Promise<void> | undefined;

  constructor(service: Service, config: ConsumerConfig) {
    const merged = { ...DEFAULT_CONSUMER_CONFIG, ...stripUndefined(config) };
    if (!config.pool) throw new ConfigurationError('consumer.pool', config.pool, 'a pg Pool (or any { query, connect })');
    if (!config.transport?.subscriber) throw new ConfigurationError('consumer.transport', config.transport, 'a Transport with a subscriber and a publisher');
    validatePositiveInt('consumer.concurrency', merged.concurrency);
    validatePositiveInt('consumer.maxInFlight', merged.maxInFlight);
    validatePositiveInt('consumer.fetchBatchSize', merged.fetchBatchSize);
    this.#config = merged;
    // Every delivery in flight listens for close on this one signal (retry, backoff): as
    // many listeners as maxInFlight is expected, not a leak.
    setMaxListeners(merged.maxInFlight + 16, this.#abort.signal);
    this.service = service;
    this.instanceId = config.instanceId ?? newInstanceId();
    this.#lanes = new OrderedLanes(merged.concurrency, merged.maxInFlight);
    const processed = new ProcessedEvents(service.schema);
    this.#committer = new GroupCommitter<ClaimTag, boolean>(config.pool, config.groupCommit, (tx, tags) => processed.claimMany(tx, service.name, tags));
    const runner = createRetryRunner(retryWithDefaults(config.retry));
    const metrics = config.metrics === false ? undefined : (config.metrics ?? SyncMetrics.for());
    this.#metrics = metrics;
    this.#pipeline = compose(
      [
        traceProcess,
        deadLetter({ store: new DeadLetterStore(service.schema), db: config.pool, publisher: config.transport.publisher }),
        retryFailures(runner, {
          onRetry: (message) => {
            this.#stats.retried += 1;
            metrics?.recordRetry(service.name, message.delivery.topic);
          },
        }),
        envelopeCheck,
        validateSchema,
        inConsumerTransaction(this.#committer),
        idempotency(processed),
      ],
      async (message) => {
        // the handler runs in its event's process span, so what it publishes continues the trace
        const result = await runInSpanContext(message, () => message.subscription.handle({
          event: message.event!, tx: message.tx!, attempt: message.attempt, topic: message.subscription.topic, consumer: message.consumer,
        }));
        return result === 'stale' ? 'stale' : 'applied';
      },
    );
  }

  /** The consumer name within the group: service name + instance id. */
  get consumerName(): string {
    return `${this.service.name}-${this.instanceId}`;
  }

  /** Subscribes to every handled topic and starts handling. */
  async start(): Promise<void> {
    if (this.#config.migrate) await migrate(this.#config.pool, this.service.schema, this.service.migrations);
    // Where a group keeps only what is published after it exists (RabbitMQ), it exists once start resolves.
    await declareSubscriberGroups(this.#config.transport, this.service.handlers.map((h) => ({ name: h.topic.name, subscribers: [this.service.name] })));
    for (const subscription of this.service.handlers) this.#pumps.push(this.#pump(subscription));
    this.#watchBacklog();
  }

  /** Dead letters and broker lag of this consumer, read at each metrics scrape; its freshness while it runs. */
  #watchBacklog(): void {
    const metrics = this.#metrics;
    if (!metrics) return;
    const { pool, transport } = this.#config;
    this.#unwatch.push(metrics.watchConsumer(this.service.name));
    this.#unwatch.push(metrics.watchDeadLetters(this.service.name, this.service.schema, pool));
    if (transport.lag) this.#unwatch.push(metrics.watchLag(this.service.name, this.service.handlers.map((h) => h.topic.name), (topic, group) => transport.lag!(topic, group)));
  }

  /** A copy of the counters. */
  stats(): ConsumerStats {
    return { ...this.#stats, inFlight: this.#lanes.size, transactions: this.#committer.batches };
  }

  /** Resolves when nothing is in flight, acks included (it may still be waiting for new messages). */
  async whenIdle(): Promise<void> {
    await this.#lanes.whenIdle();
    await Promise.allSettled([...this.#acks]);
  }

  /**
   * Resolves with the outcome once this instance has settled the event with this id,
   * at once if it did so recently (the latest outcome of the last 10,000 events is kept).
   */
  whenProcessed(eventId: string): Promise<Outcome> {
    const settled = this.#recent.get(eventId);
    if (settled !== undefined) return Promise.resolve(settled);
    return new Promise((resolve) => {
      const list = this.#waiters.get(eventId) ?? [];
      list.push(resolve);
      this.#waiters.set(eventId, list);
    });
  }

  /**
   * Stops fetching, aborts retries that are waiting, lets transactions in flight
   * finish, then returns. Deliveries not settled stay pending in the broker and are
   * redelivered. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const unwatch of this.#unwatch.splice(0)) unwatch();
      this.#abort.abort();
      await Promise.allSettled(this.#pumps);
      await this.#lanes.whenIdle();
      await Promise.allSettled([...this.#acks]);
    })();
    return this.#closing;
  }

  async #pump(subscription: Subscription): Promise<void> {
    const topic = subscription.topic.name;
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      try {
        const deliveries = this.#config.transport.subscriber.subscribe(topic, {
          group: this.service.name, consumer: this.consumerName, signal: this.#abort.signal, batchSize: this.#config.fetchBatchSize,
        });
        for await (const delivery of deliveries) {
          failures = 0;
          const message = this.#toMessage(delivery, subscription);
          this.#lanes.push(message.event ? laneOf(message.event) : `delivery:${delivery.id}`, () => this.#handle(message));
          await this.#lanes.whenCapacity();
          if (this.#abort.signal.aborted) break;
        }
        if (this.#abort.signal.aborted) return;
      } catch (error) {
        if (this.#abort.signal.aborted) return;
        this.#config.hooks?.onError?.(error, { topic });
      }
      failures += 1;
      await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)), this.#abort.signal);
    }
  }

  #toMessage(delivery: Delivery, subscription: Subscription): InboundMessage {
    const base = { delivery, consumer: this.service.name, subscription, attempt: 1, failures: { attempts: 0 }, signal: this.#abort.signal };
    try {
      return { ...base, event: parseEnvelope(delivery.body, delivery.topic) };
    } catch (error) {
      return { ...base, parseError: error instanceof SyncError ? error : new SyncError('ENVELOPE_MALFORMED', String(error), { permanent: true }) };
    }
  }

  async #handle(message: InboundMessage): Promise<void> {
    const { delivery } = message;
    let outcome: Outcome | undefined;
    let failures = message.failures;
    // Only a failure outside the handler's retries lands here (e.g. the database was down
    // while dead-lettering). Try again in place: the entity's lane waits, so its later
    // events cannot overtake this one. Closing leaves the delivery pending in the broker.
    while (outcome === undefined) {
      if (this.#abort.signal.aborted) return;
      try {
        failures = { attempts: 0 };
        outcome = await this.#pipeline({ ...message, failures });
      } catch (error) {
        if (this.#abort.signal.aborted) return;
        this.#config.hooks?.onError?.(error, { topic: delivery.topic, deliveryId: delivery.id });
        await sleep(this.#config.redeliveryDelayMs, this.#abort.signal);
      }
    }
    const committedAtMs = performance.timeOrigin + performance.now();
    this.#stats[outcome] += 1;
    const info: SettledInfo = { topic: delivery.topic, deliveryId: delivery.id, event: message.event, outcome, attempts: Math.max(1, failures.attempts + (outcome === 'dead_lettered' ? 0 : 1)), committedAtMs };
    this.#metrics?.recordSettled(this.service.name, info);
    if (this.#config.hooks?.beforeAck) {
      try {
        await this.#config.hooks.beforeAck(info);
      } catch (error) {
        this.#config.hooks.onError?.(error, { topic: delivery.topic, deliveryId: delivery.id });
      }
    }
    // The effect is committed: the lane goes on without waiting for the broker's answer.
    // A lost ack only means a redelivery, which processed_events absorbs.
    const ack = delivery.ack().catch((error: unknown) => this.#config.hooks?.onError?.(error, { topic: delivery.topic, deliveryId: delivery.id }));
    this.#acks.add(ack);
    void ack.finally(() => this.#acks.delete(ack));
    this.#config.hooks?.onSettled?.(info);
    const id = message.event?.id;
    if (id !== undefined) {
      this.#recent.delete(id);
      this.#recent.set(id, outcome);
      if (this.#recent.size > RECENT_OUTCOMES) this.#recent.delete(this.#recent.keys().next().value!);
      const waiters = this.#waiters.get(id);
      if (waiters) {
        this.#waiters.delete(id);
        for (const resolve of waiters) resolve(outcome);
      }
    }
  }
}

/** Creates and starts a consumer for `service`. */
export async function startConsumer(service: Service, config: ConsumerConfig): Promise<Consumer> {
  const consumer = new Consumer(service, config);
  await consumer.start();
  return consumer;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
