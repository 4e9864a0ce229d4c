import { MalformedEnvelopeError } from './errors.js';
import { newEventId } from './ids.js';
import { toRfc3339 } from './clock.js';

/**
 * A CloudEvents 1.0 JSON event, wire-compatible with Dapr's Redis Streams pub/sub
 * (DESIGN.md section 3). Extension attribute names are lower case, as the
 * CloudEvents spec requires.
 */
export interface CloudEvent<T = unknown> {
  /** UUIDv7, unique per event; the idempotency key of every consumer. */
  readonly id: string;
  /** The publishing service's name (Dapr's app-id). */
  readonly source: string;
  readonly specversion: '1.0';
  /** Topic name plus version, e.g. `catalog.product.updated.v1`. */
  readonly type: string;
  /** RFC 3339 with milliseconds. */
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: T;
  /** Entity id. */
  readonly subject?: string;
  readonly topic?: string;
  readonly pubsubname?: string;
  readonly dataschema?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** Same as `traceparent`: Dapr's legacy field. */
  readonly traceid?: string;
  readonly correlationid?: string;
  readonly causationid?: string;
  /** Routes every event of one entity to one ordered lane. */
  readonly partitionkey?: string;
  /** The owner's version of the entity after this change; read models drop anything older. */
  readonly entityversion?: number;
  readonly sig?: string;
  readonly dlqreason?: string;
  readonly dlqerror?: string;
  readonly dlqattempts?: number;
  readonly dlqconsumer?: string;
  readonly dlqfirstfailed?: string;
  readonly dlqlastfailed?: string;
}

/** The dead-letter attributes added to an envelope republished on `<topic>.dlq`. */
export const DLQ_ATTRIBUTES = {
  reason: 'dlqreason',
  error: 'dlqerror',
  attempts: 'dlqattempts',
  consumer: 'dlqconsumer',
  firstFailed: 'dlqfirstfailed',
  lastFailed: 'dlqlastfailed',
} as const;

/** The name of the dead-letter topic of `topic`. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** The `type` attribute of a topic at a version: `catalog.product.updated.v1`. */
export function eventType(topic: string, version: number): string {
  return `${topic}.v${version}`;
}

/** What a producer supplies; the rest of the envelope is filled in by {@link createEnvelope}. */
export interface EnvelopeInit<T> {
  readonly topic: string;
  readonly version: number;
  readonly source: string;
  readonly data: T;
  readonly id?: string;
  readonly timeMs?: number;
  readonly subject?: string;
  readonly partitionKey?: string;
  readonly entityVersion?: number;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  readonly pubsubName?: string;
  readonly dataschema?: string;
}

/** Builds a complete envelope; `correlationid` defaults to the event's own id. */
export function createEnvelope<T>(init: EnvelopeInit<T>): CloudEvent<T> {
  const id = init.id ?? newEventId();
  return dropUndefined({
    id,
    source: init.source,
    specversion: '1.0',
    type: eventType(init.topic, init.version),
    time: toRfc3339(init.timeMs ?? Date.now()),
    datacontenttype: 'application/json',
    data: init.data,
    subject: init.subject,
    topic: init.topic,
    pubsubname: init.pubsubName ?? 'datasync',
    dataschema: init.dataschema,
    traceparent: init.traceparent,
    tracestate: init.tracestate,
    traceid: init.traceparent,
    correlationid: init.correlationId ?? id,
    causationid: init.causationId,
    partitionkey: init.partitionKey,
    entityversion: init.entityVersion,
  }) as CloudEvent<T>;
}

const REQUIRED_STRINGS = ['id', 'source', 'specversion', 'type'] as const;

/**
 * Parses a CloudEvent from its JSON text as found on the wire. Accepts what a Dapr
 * sidecar writes: `data_base64` instead of `data`, `data` as a JSON string when the
 * content type is JSON, empty trace fields, a missing `time`. Throws
 * {@link MalformedEnvelopeError} (never retried) for anything unusable.
 */
export function parseEnvelope(body: string | undefined, fallbackTopic?: string): CloudEvent {
  if (body === undefined || body === '') throw new MalformedEnvelopeError('the message has no data field (expected a CloudEvent JSON object)');
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (cause) {
    throw new MalformedEnvelopeError(`the message data is not JSON: ${(cause as Error).message}`, { cause });
  }
  return normalizeEnvelope(raw, fallbackTopic);
}

/** Validates and normalizes an already-parsed CloudEvent object (see {@link parseEnvelope}). */
export function normalizeEnvelope(raw: unknown, fallbackTopic?: string): CloudEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new MalformedEnvelopeError('the message data is not a JSON object (expected a CloudEvent)');
  }
  const event: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const field of REQUIRED_STRINGS) {
    if (typeof event[field] !== 'string' || event[field] === '') {
      throw new MalformedEnvelopeError(`the CloudEvent has no ${field} attribute (required by CloudEvents 1.0)`);
    }
  }
  if (event.specversion !== '1.0') {
    throw new MalformedEnvelopeError(`specversion ${JSON.stringify(event.specversion)} is not supported (expected "1.0")`);
  }
  if ('data_base64' in event && !('data' in event)) {
    const decoded = Buffer.from(String(event.data_base64), 'base64').toString('utf8');
    try {
      event.data = JSON.parse(decoded);
    } catch (cause) {
      throw new MalformedEnvelopeError('data_base64 does not decode to JSON', { cause });
    }
    delete event.data_base64;
  }
  if (!('data' in event) || event.data === undefined) {
    throw new MalformedEnvelopeError('the CloudEvent has no data');
  }
  const contentType = typeof event.datacontenttype === 'string' ? event.datacontenttype : 'application/json';
  if (!contentType.startsWith('application/json') && !contentType.endsWith('+json')) {
    throw new MalformedEnvelopeError(`datacontenttype ${JSON.stringify(contentType)} is not JSON`);
  }
  if (typeof event.data === 'string' && contentType.startsWith('application/json')) {
    // Dapr publishes a JSON payload given as a string unparsed; accept both forms.
    try {
      event.data = JSON.parse(event.data);
    } catch {
      // a JSON string value is valid JSON data; keep it as is
    }
  }
  event.datacontenttype = 'application/json';
  if (typeof event.time !== 'string' || event.time === '') event.time = new Date().toISOString();
  else if (Number.isNaN(Date.parse(event.time))) throw new MalformedEnvelopeError(`time ${JSON.stringify(event.time)} is not RFC 3339`);
  for (const key of ['traceparent', 'tracestate', 'traceid', 'subject', 'partitionkey', 'correlationid', 'causationid']) {
    if (event[key] === '' || event[key] === null) delete event[key];
  }
  if (event.topic === undefined && fallbackTopic !== undefined) event.topic = fallbackTopic;
  if (event.entityversion !== undefined) {
    const version = typeof event.entityversion === 'string' ? Number(event.entityversion) : event.entityversion;
    if (typeof version !== 'number' || !Number.isSafeInteger(version)) {
      throw new MalformedEnvelopeError(`entityversion ${JSON.stringify(event.entityversion)} is not an integer`);
    }
    event.entityversion = version;
  }
  return event as unknown as CloudEvent;
}

/** The topic an envelope belongs to: its `topic` attribute, else its `type` without the version suffix. */
export function topicOf(event: CloudEvent): string {
  if (event.topic) return event.topic;
  return event.type.replace(/\.v\d+$/, '');
}

/** The version encoded in the envelope's `type` (`...v2` → 2), or 1 when absent. */
export function versionOf(event: CloudEvent): number {
  const match = /\.v(\d+)$/.exec(event.type);
  return match ? Number(match[1]) : 1;
}

/** The key that orders this event: `partitionkey`, else `subject`, else the event id (no ordering). */
export function orderingKeyOf(event: CloudEvent): string {
  return event.partitionkey ?? event.subject ?? event.id;
}

function dropUndefined<T extends Record<string, unknown>>(value: T): T {
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return value;
}
