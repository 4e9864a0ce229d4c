import type { ConsumeMessage, Options } from 'amqplib';
import type { CloudEvent } from '../../core/envelope.js';
import { ArgumentError } from '../../core/errors.js';

/**
 * How an event travels as an AMQP message (README, "Wire format"):
 *
 * - body: the CloudEvent JSON (structured mode of the CloudEvents AMQP binding), UTF-8;
 * - `content-type` `application/cloudevents+json`, `delivery-mode` 2 (persistent),
 *   `message-id` = the CloudEvent `id`, `timestamp` = its `time` in seconds;
 * - metadata: each entry `key: value` of the publish call's `metadata` map is the header
 *   `metadata.<key>` with a string value. Other headers (`x-delivery-count`, `x-death`, …)
 *   are the broker's and are not metadata.
 */

/** Content type of every message the transport publishes. */
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/** Prefix of the headers that carry the metadata map. */
export const METADATA_HEADER_PREFIX = 'metadata.';

/** Header names are AMQP short strings. */
const MAX_HEADER_NAME_BYTES = 255;

/** The `metadata.<key>` headers of a publish call; throws {@link ArgumentError} for a key or value that cannot be one. */
export function metadataHeaders(metadata: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (metadata === undefined) return headers;
  for (const [key, value] of Object.entries(metadata)) {
    const name = `${METADATA_HEADER_PREFIX}${key}`;
    if (Buffer.byteLength(name) > MAX_HEADER_NAME_BYTES) {
      throw new ArgumentError('metadata', key, `a key of at most ${MAX_HEADER_NAME_BYTES - METADATA_HEADER_PREFIX.length} bytes (AMQP header name)`);
    }
    if (typeof value !== 'string') throw new ArgumentError(`metadata.${key}`, value, 'a string');
    headers[name] = value;
  }
  return headers;
}

/** AMQP properties of one event's message. */
export function publishOptions(event: CloudEvent, headers: Record<string, string>, mandatory: boolean): Options.Publish {
  const seconds = Math.floor(Date.parse(event.time) / 1000);
  return {
    persistent: true,
    mandatory,
    contentType: CLOUDEVENTS_CONTENT_TYPE,
    // message-id is a short string; an id longer than that still travels in the body.
    messageId: Buffer.byteLength(event.id) <= MAX_HEADER_NAME_BYTES ? event.id : undefined,
    timestamp: Number.isFinite(seconds) ? seconds : undefined,
    headers,
  };
}

/** The metadata map of a received message: its `metadata.<key>` headers. */
export function metadataOf(message: ConsumeMessage): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.properties.headers ?? {})) {
    if (!name.startsWith(METADATA_HEADER_PREFIX)) continue;
    const key = name.slice(METADATA_HEADER_PREFIX.length);
    if (typeof value === 'string') metadata[key] = value;
    else if (Buffer.isBuffer(value)) metadata[key] = value.toString('utf8');
  }
  return metadata;
}

/**
 * 1 on first delivery, more on redelivery: a quorum queue's `x-delivery-count` header counts the
 * times the message was given back (nack with requeue, or its consumer's channel closed), so the
 * attempt is that count plus one; a message flagged `redelivered` is at least attempt 2.
 */
export function attemptOf(message: ConsumeMessage): number {
  const count = numberOf(message.properties.headers?.['x-delivery-count']);
  const fromCount = count === undefined ? 1 : count + 1;
  return Math.max(fromCount, message.fields.redelivered ? 2 : 1);
}

/** The body as text; `undefined` for an empty message. */
export function bodyOf(message: ConsumeMessage): string | undefined {
  return message.content.length === 0 ? undefined : message.content.toString('utf8');
}

/** A header value that amqplib decoded as a number (plain, or a typed `{ value }` for 64-bit ints). */
function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object' && 'value' in value) return numberOf(value.value);
  return undefined;
}
