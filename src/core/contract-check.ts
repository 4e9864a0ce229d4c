import { isDeepStrictEqual } from 'node:util';
import type { JsonSchema } from './contracts.js';

/** The parts of a topic declaration the check reads (a `Topic` from `defineTopic` has them all). */
export interface CheckedTopic {
  readonly name: string;
  readonly version: number;
  readonly publishers: readonly string[];
  readonly subscribers: readonly string[];
  readonly schema: JsonSchema;
}

/** What one service of a platform publishes and subscribes to, by the topic constants it imports. */
export interface ServiceDeclaration {
  readonly name: string;
  readonly publishes: readonly CheckedTopic[];
  readonly subscribes: readonly CheckedTopic[];
}

/** Published schemas by `<topic>.v<version>`: once a version is out, its schema is fixed. */
export type SchemaLock = Readonly<Record<string, JsonSchema>>;

/** Why `datasync check` fails. */
export type ContractProblemCode =
  | 'SUBSCRIPTION_WITHOUT_PRODUCER'
  | 'UNDECLARED_TOPIC_PUBLISHED'
  | 'UNDECLARED_TOPIC_SUBSCRIBED'
  | 'PUBLISHER_NOT_ALLOWED'
  | 'SUBSCRIBER_NOT_LISTED'
  | 'SCHEMA_WITHOUT_VERSION'
  | 'PUBLISHED_SCHEMA_CHANGED';

/** One finding, naming the topic (and service) concerned and what to do. */
export interface ContractProblem {
  readonly code: ContractProblemCode;
  readonly topic: string;
  readonly service?: string;
  readonly message: string;
}

/** The key of a topic version in a {@link SchemaLock}: `catalog.product.updated.v1`. */
export const lockKey = (topic: Pick<CheckedTopic, 'name' | 'version'>): string => `${topic.name}.v${topic.version}`;

/**
 * Checks a platform's contracts against its services and its published schemas:
 * every subscription has a producer among the services and names a declared topic; every
 * published topic is declared and lists the service as a publisher; every subscriber lists
 * itself on the topic; every topic has a version; a schema version recorded in `lock` is
 * unchanged (a change is a new version). Returns the problems, none when all is well.
 */
export function checkContracts(input: { topics: readonly CheckedTopic[]; services: readonly ServiceDeclaration[]; lock?: SchemaLock }): ContractProblem[] {
  const problems: ContractProblem[] = [];
  const declared = new Map(input.topics.map((topic) => [topic.name, topic]));
  const produced = new Set(input.services.flatMap((service) => service.publishes.map((topic) => topic.name)));

  for (const topic of input.topics) {
    if (!Number.isSafeInteger(topic.version) || topic.version < 1) {
      problems.push({ code: 'SCHEMA_WITHOUT_VERSION', topic: topic.name, message: `${topic.name} has no schema version (got ${JSON.stringify(topic.version)}); declare version: 1 or higher` });
      continue;
    }
    const published = input.lock?.[lockKey(topic)];
    if (published !== undefined && !isDeepStrictEqual(published, topic.schema)) {
      const where = firstDifference(published, topic.schema, '') || '/';
      problems.push({
        code: 'PUBLISHED_SCHEMA_CHANGED',
        topic: topic.name,
        message: `${lockKey(topic)} was published with another schema (first difference at ${where}); a published version never changes: declare version ${topic.version + 1} and keep v${topic.version} until every subscriber has moved`,
      });
    }
  }

  for (const service of input.services) {
    for (const topic of service.publishes) {
      const known = declared.get(topic.name);
      if (!known) {
        problems.push({ code: 'UNDECLARED_TOPIC_PUBLISHED', topic: topic.name, service: service.name, message: `${service.name} publishes ${topic.name}, which no contract declares${suggestion(topic.name, declared.keys())}` });
      } else if (!known.publishers.includes(service.name)) {
        problems.push({ code: 'PUBLISHER_NOT_ALLOWED', topic: topic.name, service: service.name, message: `${service.name} publishes ${topic.name}, whose allowed publishers are ${known.publishers.join(', ')}; add it to publishers or publish from the owner` });
      }
    }
    for (const topic of service.subscribes) {
      const known = declared.get(topic.name);
      if (!known) {
        problems.push({ code: 'UNDECLARED_TOPIC_SUBSCRIBED', topic: topic.name, service: service.name, message: `${service.name} subscribes to ${topic.name}, which no contract declares${suggestion(topic.name, declared.keys())}` });
        continue;
      }
      if (!produced.has(topic.name)) {
        problems.push({ code: 'SUBSCRIPTION_WITHOUT_PRODUCER', topic: topic.name, service: service.name, message: `${service.name} subscribes to ${topic.name}, but no service publishes it (declared publishers: ${known.publishers.join(', ')})` });
      }
      if (!known.subscribers.includes(service.name)) {
        problems.push({ code: 'SUBSCRIBER_NOT_LISTED', topic: topic.name, service: service.name, message: `${service.name} subscribes to ${topic.name} but is not among its subscribers (${known.subscribers.join(', ') || 'none'}); add it to the contract so its owner knows` });
      }
    }
  }
  return problems;
}

/** The lock with every current topic version added; versions already recorded are kept as they were. */
export function extendLock(lock: SchemaLock, topics: readonly CheckedTopic[]): Record<string, JsonSchema> {
  const next: Record<string, JsonSchema> = { ...lock };
  for (const topic of topics) next[lockKey(topic)] ??= topic.schema;
  return Object.fromEntries(Object.entries(next).sort(([a], [b]) => a.localeCompare(b)));
}

/** The JSON pointer of the first place two JSON values differ, '' when they are equal. */
function firstDifference(a: unknown, b: unknown, path: string): string {
  if (isDeepStrictEqual(a, b)) return '';
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return path || '/';
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const key of keys) {
    const found = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}/${key}`);
    if (found) return found;
  }
  return path || '/';
}

/** ` (did you mean catalog.product.created?)` when a declared name is close, else ''. */
function suggestion(name: string, declared: Iterable<string>): string {
  let best: string | undefined;
  let bestScore = 0;
  for (const candidate of declared) {
    const score = similarity(name, candidate);
    if (score > bestScore) [best, bestScore] = [candidate, score];
  }
  return best !== undefined && bestScore >= 0.6 ? ` (did you mean ${best}?)` : '';
}

/** How alike two topic names are: shared dot-separated words, and a name that ends the other. */
function similarity(a: string, b: string): number {
  if (a.endsWith(`.${b}`) || b.endsWith(`.${a}`)) return 1;
  const wordsA = new Set(a.split('.'));
  const wordsB = new Set(b.split('.'));
  const shared = [...wordsA].filter((word) => wordsB.has(word)).length;
  return shared / Math.max(wordsA.size, wordsB.size);
}
