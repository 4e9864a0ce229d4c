import { createHash } from 'node:crypto';
import { ArgumentError } from '../../core/errors.js';

/**
 * How topics map onto JetStream (documented in this folder's README):
 * - the subject is the topic itself (`catalog.product.updated`: dots are subject tokens);
 * - the stream is one per subject family, the topic's first token: `<prefix><FAMILY>`, e.g.
 *   `DATASYNC_CATALOG`, capturing `catalog.>` (and `catalog` itself for a one-token topic);
 * - the consumer is one durable pull consumer per group and topic, `<group>__<topic>` with
 *   characters a consumer name cannot hold replaced, filtered on the topic.
 */

/** A subject token: no whitespace, no `.`, no wildcard. */
const TOKEN = /^[^\s.*>]+$/;
/** Longest consumer name we build; longer ones are shortened and given a hash suffix. */
const MAX_NAME_LENGTH = 160;

/** Throws {@link ArgumentError} unless `topic` can be a NATS subject to publish on. */
export function checkTopic(topic: string): void {
  const valid = typeof topic === 'string' && !topic.startsWith('$') && topic.split('.').every((token) => TOKEN.test(token));
  if (!valid) {
    throw new ArgumentError('topic', topic, 'a NATS subject: dot-separated tokens without spaces or the wildcards * and >, not starting with $ (e.g. catalog.product.updated)');
  }
}

/** The subject family of a topic: its first token (`catalog` for `catalog.product.updated`). */
export function familyOf(topic: string): string {
  const dot = topic.indexOf('.');
  return dot === -1 ? topic : topic.slice(0, dot);
}

/** `<prefix><FAMILY>`: the family upper-cased, characters a stream name cannot hold replaced by `_`. */
export function streamNameFor(topic: string, prefix: string): string {
  return `${prefix}${familyOf(topic).toUpperCase().replace(/[^A-Z0-9_-]/g, '_')}`;
}

/** The subject a family stream captures for `topic`: `<family>.>`, or the one token itself. */
export function streamSubjectFor(topic: string): string {
  const family = familyOf(topic);
  return family === topic ? topic : `${family}.>`;
}

/**
 * The durable consumer of `group` on `topic`: `<group>__<topic>`, with `.` and any character
 * outside `A-Z a-z 0-9 _ -` replaced by `-` (e.g. `search__catalog-product-updated`). A name
 * longer than 160 characters is cut and ends in a hash of the exact pair, so it stays unique.
 */
export function consumerNameFor(group: string, topic: string): string {
  const name = `${safe(group)}__${safe(topic)}`;
  if (name.length <= MAX_NAME_LENGTH) return name;
  const hash = createHash('sha256').update(`${group}\u0000${topic}`).digest('hex').slice(0, 16);
  return `${name.slice(0, MAX_NAME_LENGTH - 17)}_${hash}`;
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '-');
}
