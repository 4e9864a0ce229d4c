import type { Topic } from '../core/contracts.js';
import type { CloudEvent } from '../core/envelope.js';
import { ConfigurationError } from '../core/errors.js';
import type { Migration } from '../postgres/migrations.js';
import type { SqlExecutor } from '../postgres/sql.js';

/** What a handler receives: the validated event and the consumer's open transaction. */
export interface HandlerArgs<T> {
  readonly event: CloudEvent<T>;
  /** The consumer's transaction: write the read model here, never through another connection. */
  readonly tx: SqlExecutor;
  /** 1 on the first try of this delivery, more on retries. */
  readonly attempt: number;
  readonly topic: Topic<T>;
  /** The consuming service's name. */
  readonly consumer: string;
}

/**
 * What a handler may report: `stale` when its conflict check dropped the event (it
 * is counted, and the event is still recorded as processed). Nothing means `applied`.
 */
export type HandlerResult = 'applied' | 'stale' | void;

/** Applies one event to the service's own data. Throw to retry; throw PermanentError to dead-letter. */
export type EventHandler<T> = (args: HandlerArgs<T>) => Promise<HandlerResult>;

/** What a batch handler receives: new events of one topic, at most one per entity, and the consumer's transaction. */
export interface BatchHandlerArgs<T> {
  /** Events not processed before (duplicates already dropped), in no particular order across entities. */
  readonly events: readonly CloudEvent<T>[];
  readonly tx: SqlExecutor;
  readonly topic: Topic<T>;
  readonly consumer: string;
}

/**
 * Applies several events in one go (e.g. one multi-row upsert). Returns one result per
 * event, in order, or nothing when all were applied. If it throws, the events are
 * handled one at a time (as batches of one) to find the failing one, which alone is retried.
 */
export type BatchHandler<T> = (args: BatchHandlerArgs<T>) => Promise<readonly HandlerResult[] | void>;

/** A topic and the handler that keeps this service's copy of it. */
export interface Subscription<T = unknown> {
  readonly topic: Topic<T>;
  readonly handle: EventHandler<T>;
  /** Set by {@link onBatch}: handles the events of one consumer transaction together. */
  readonly handleBatch?: BatchHandler<T>;
}

/** A subscription of any data type, for a service's list of handlers. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySubscription = Subscription<any>;

/** Subscribes `handle` to `topic`. */
export function on<T>(topic: Topic<T>, handle: EventHandler<T>): Subscription<T> {
  return { topic, handle };
}

/**
 * Subscribes a batch handler to `topic`: the events of the topic that share a consumer
 * transaction (group commit) are handed over together, so a read model can apply them
 * with one statement. Order per entity, exactly-once effect, retry and dead letter are
 * as with {@link on}; an event alone (or on retry) arrives as a batch of one.
 */
export function onBatch<T>(topic: Topic<T>, handleBatch: BatchHandler<T>): Subscription<T> {
  return {
    topic,
    handleBatch,
    handle: async ({ event, tx, consumer }) => (await handleBatch({ events: [event], tx, topic, consumer }))?.[0],
  };
}

/** What a service declares; see {@link defineService}. */
export interface ServiceDefinition {
  /** Lower-case service name: the envelope `source`, the consumer group, the default schema. */
  readonly name: string;
  /** The PostgreSQL schema holding the service's tables; default: the name. */
  readonly schema?: string;
  /** The service's own tables (read models), applied after datasync's. */
  readonly migrations?: readonly Migration[];
  /** The topics this service keeps a copy of. */
  readonly handlers?: readonly AnySubscription[];
}

/** A checked service definition. */
export interface Service {
  readonly name: string;
  readonly schema: string;
  readonly migrations: readonly Migration[];
  readonly handlers: readonly Subscription[];
}

const SERVICE_NAME = /^[a-z][a-z0-9_]{0,40}$/;

/**
 * Declares a service: what it owns, publishes and keeps a copy of. Checks that
 * the name is usable and that no topic is subscribed twice, and that the service is
 * among each topic's declared subscribers.
 */
export function defineService(definition: ServiceDefinition): Service {
  if (!SERVICE_NAME.test(definition.name)) {
    throw new ConfigurationError('service.name', definition.name, 'lower case letters, digits and _, starting with a letter (it names the consumer group and the schema)');
  }
  const handlers: readonly Subscription[] = definition.handlers ?? [];
  const seen = new Set<string>();
  for (const { topic } of handlers) {
    if (seen.has(topic.name)) throw new ConfigurationError(`service ${definition.name}: handlers`, topic.name, 'each topic at most once');
    seen.add(topic.name);
    if (!topic.subscribers.includes(definition.name)) {
      throw new ConfigurationError(`service ${definition.name}: handlers`, topic.name, `a topic that lists ${definition.name} among its subscribers (it lists ${topic.subscribers.join(', ') || 'none'})`);
    }
  }
  return { name: definition.name, schema: definition.schema ?? definition.name, migrations: definition.migrations ?? [], handlers };
}
