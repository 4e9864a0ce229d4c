import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import { ConfigurationError, PublisherForbiddenError, SchemaValidationError, SyncError, UnknownTopicError } from './errors.js';
import { eventType } from './envelope.js';

/** A JSON Schema object (draft 2020-12 keywords as Ajv supports them, plus `x-pii` and `x-encrypted`). */
export type JsonSchema = Record<string, unknown>;

// ajv-formats is CommonJS; its default export arrives as the module object under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: FormatsPlugin }).default ?? addFormatsModule) as FormatsPlugin;

const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv);
ajv.addKeyword({ keyword: 'x-pii', schemaType: 'boolean' });
ajv.addKeyword({ keyword: 'x-encrypted', schemaType: 'boolean' });

/** What a topic declaration says; see {@link defineTopic}. */
export interface TopicDefinition<T> {
  /** `<owner>.<entity>.<event>`, lower case, e.g. `catalog.product.updated`. */
  readonly name: string;
  /** Schema version, a positive integer; the envelope `type` is `<name>.v<version>`. */
  readonly version: number;
  /** The service that owns the data. */
  readonly owner: string;
  /** Services allowed to publish; default `[owner]`. */
  readonly publishers?: readonly string[];
  /** Services that keep a copy. */
  readonly subscribers: readonly string[];
  /** JSON Schema of the event data. */
  readonly schema: JsonSchema;
  /** The entity id that orders events; default: no key (no ordering between events). */
  readonly partitionKey?: (data: T) => string;
  /** The owner's entity version after the change, if the data carries it. */
  readonly entityVersion?: (data: T) => number | undefined;
  /** One line saying what the event means. */
  readonly description?: string;
}

/** A declared topic: the definition plus its compiled schema validator. */
export interface Topic<T = unknown> extends Required<Omit<TopicDefinition<T>, 'partitionKey' | 'entityVersion' | 'description'>> {
  readonly partitionKey?: (data: T) => string;
  readonly entityVersion?: (data: T) => number | undefined;
  readonly description?: string;
  /** `<name>.v<version>`, the envelope `type`. */
  readonly type: string;
  /** Returns `data` typed as `T`, or throws {@link SchemaValidationError} naming every field that does not match. */
  validate(data: unknown): T;
}

/**
 * A topic of any data type, for collections of topics. `Topic<T>` both produces and
 * consumes `T`, so no narrower common type exists.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTopic = Topic<any>;

const TOPIC_NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*){2,}$/;

/**
 * Declares a topic once, with its schema and its audience. Services import the
 * returned constant, so a misspelled topic is a compile error. The schema is compiled
 * here, so a broken schema fails at start-up, not at the first event.
 */
export function defineTopic<T>(definition: TopicDefinition<T>): Topic<T> {
  if (!TOPIC_NAME.test(definition.name)) {
    throw new ConfigurationError('topic.name', definition.name, 'lower-case <owner>.<entity>.<event>, e.g. catalog.product.updated');
  }
  if (!Number.isInteger(definition.version) || definition.version < 1) {
    throw new ConfigurationError(`topic ${definition.name}: version`, definition.version, 'a positive integer');
  }
  if (!definition.owner) throw new ConfigurationError(`topic ${definition.name}: owner`, definition.owner, 'the owning service name');
  let validator: ValidateFunction;
  try {
    validator = ajv.compile(definition.schema);
  } catch (cause) {
    throw new ConfigurationError(`topic ${definition.name}: schema`, (cause as Error).message, 'a valid JSON Schema');
  }
  const name = definition.name;
  return Object.freeze({
    ...definition,
    publishers: definition.publishers ?? [definition.owner],
    type: eventType(name, definition.version),
    validate(data: unknown): T {
      if (!validator(data)) throw new SchemaValidationError(name, toViolations(validator.errors ?? []));
      return data as T;
    },
  });
}

function toViolations(errors: readonly ErrorObject[]): { path: string; message: string }[] {
  return errors.map((e) => ({
    path: e.instancePath + (e.keyword === 'required' ? `/${String((e.params as { missingProperty: string }).missingProperty)}` : ''),
    message: e.keyword === 'required' ? 'is required' : (e.message ?? e.keyword),
  }));
}

/** The set of topics a deployment knows, looked up by name. */
export class ContractRegistry {
  readonly #topics = new Map<string, Topic>();

  constructor(topics: Iterable<AnyTopic> = []) {
    for (const topic of topics) this.add(topic);
  }

  /** Adds a topic; a second declaration of the same name is an error. */
  add(topic: AnyTopic): this {
    if (this.#topics.has(topic.name)) throw new SyncError('TOPIC_DUPLICATE', `topic ${topic.name} is declared twice`, { permanent: true });
    this.#topics.set(topic.name, topic as Topic);
    return this;
  }

  /** The topic named `name`; throws {@link UnknownTopicError} if none. */
  get(name: string): Topic {
    const topic = this.#topics.get(name);
    if (!topic) throw new UnknownTopicError(name, [...this.#topics.keys()]);
    return topic;
  }

  /** True if the topic is declared. */
  has(name: string): boolean {
    return this.#topics.has(name);
  }

  /** Every declared topic, in declaration order. */
  list(): Topic[] {
    return [...this.#topics.values()];
  }

  /** Throws {@link PublisherForbiddenError} unless `service` may publish `topic`. */
  assertPublisher(topic: Pick<AnyTopic, 'name' | 'publishers'>, service: string): void {
    if (!topic.publishers.includes(service)) throw new PublisherForbiddenError(topic.name, service, topic.publishers);
  }
}
