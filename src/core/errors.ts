/**
 * Every error datasync raises is a {@link SyncError} with a stable string `code`.
 * The code, not the message, is the contract: `docs/errors.md` lists each one,
 * and a test keeps that list and {@link ERROR_CODES} in step.
 *
 * An error also says what happens next: {@link SyncError.permanent} errors go
 * to the dead letter at once; all others are retried with backoff.
 */

/** Stable error codes, each with the one-line meaning documented in docs/errors.md. */
export const ERROR_CODES = {
  CONFIGURATION_INVALID: 'A configuration field has a value that cannot work.',
  PERMANENT: 'The handler said the event can never succeed; it is dead-lettered at once.',
  RETRY_LATER: 'The handler asked for a retry after a given delay.',
  SCHEMA_INVALID: 'The event data does not match the JSON Schema of its topic.',
  ENVELOPE_MALFORMED: 'The message is not a valid CloudEvents 1.0 envelope (bad JSON, missing data, missing attribute).',
  TOPIC_UNKNOWN: 'The topic is not declared in the contract registry.',
  TOPIC_PUBLISHER_FORBIDDEN: 'The service is not an allowed publisher of the topic.',
  TOPIC_DUPLICATE: 'The topic is declared twice in one registry.',
  SERVER_UNREACHABLE: 'A server (PostgreSQL, Redis) did not answer at its address.',
  RELAY_FENCED: 'This relay lost leadership (its fencing token is stale); it stops publishing.',
  RELAY_CLOSED: 'The relay was used (whenIdle) after close().',
  CDC_SLOT_ACTIVE: 'The replication slot of an outbox is in use by a running CDC relay; it cannot be dropped now.',
  SCHEMA_NOT_MIGRATED: 'The schema lacks datasync tables: it was never migrated, or its name is misspelt.',
  DEAD_LETTER_NOT_FOUND: 'No dead letter has the given id.',
  TRANSPORT_CLOSED: 'The transport was used after close().',
  PAYLOAD_TOO_LARGE: 'An event is larger than the transport accepts (its maxPayloadBytes); nothing of that publish call was sent.',
  HANDLER_FAILED: 'A handler threw an error that is not a SyncError; it is retried.',
  ARGUMENT_INVALID: 'A command-line argument or API argument has a value that cannot be used.',
  CIRCUIT_OPEN: 'A circuit breaker is open after repeated failures of the dependency behind it; calls fail at once until a trial call succeeds.',
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every error datasync raises. */
export class SyncError extends Error {
  /** Stable code, listed in docs/errors.md. */
  readonly code: ErrorCode;
  /** True when retrying cannot help: the event goes to the dead letter at once. */
  readonly permanent: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; permanent?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.permanent = options?.permanent ?? false;
  }
}

/** Thrown by a handler when the event can never succeed: dead-lettered without retry. */
export class PermanentError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PERMANENT', message, { ...options, permanent: true });
  }
}

/** Thrown by a handler to be retried after `delayMs` instead of the policy's backoff. */
export class RetryLaterError extends SyncError {
  readonly delayMs: number;
  constructor(message: string, options: { delayMs: number; cause?: unknown }) {
    super('RETRY_LATER', message, { cause: options.cause });
    this.delayMs = options.delayMs;
  }
}

/** A configuration value that cannot work; names the field, the value and what to do. */
export class ConfigurationError extends SyncError {
  readonly field: string;
  readonly value: unknown;
  constructor(field: string, value: unknown, expected: string) {
    super('CONFIGURATION_INVALID', `${field}: ${describeValue(value)} is not valid; expected ${expected}.`, { permanent: true });
    this.field = field;
    this.value = value;
  }
}

/** A command-line or API argument that cannot be used. */
export class ArgumentError extends SyncError {
  readonly argument: string;
  constructor(argument: string, value: unknown, expected: string) {
    super('ARGUMENT_INVALID', `${argument}: ${describeValue(value)} is not valid; expected ${expected}.`, { permanent: true });
    this.argument = argument;
  }
}

/** One JSON Schema violation, with the JSON pointer of the field. */
export interface SchemaViolation {
  readonly path: string;
  readonly message: string;
}

/** Event data that does not match its topic's JSON Schema. Never retried. */
export class SchemaValidationError extends SyncError {
  readonly topic: string;
  readonly violations: readonly SchemaViolation[];
  constructor(topic: string, violations: readonly SchemaViolation[]) {
    const list = violations.map((v) => `${v.path || '/'} ${v.message}`).join('; ');
    super('SCHEMA_INVALID', `data for ${topic} does not match its schema: ${list}`, { permanent: true });
    this.topic = topic;
    this.violations = violations;
  }
}

/** A message that is not a usable CloudEvents envelope. Never retried. */
export class MalformedEnvelopeError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ENVELOPE_MALFORMED', message, { ...options, permanent: true });
  }
}

/** A topic that no contract declares. */
export class UnknownTopicError extends SyncError {
  readonly topic: string;
  constructor(topic: string, known: readonly string[]) {
    super('TOPIC_UNKNOWN', `topic ${JSON.stringify(topic)} is not declared; declared topics: ${known.join(', ') || '(none)'}.`, { permanent: true });
    this.topic = topic;
  }
}

/** A service publishing a topic it is not allowed to publish. */
export class PublisherForbiddenError extends SyncError {
  constructor(topic: string, service: string, allowed: readonly string[]) {
    super('TOPIC_PUBLISHER_FORBIDDEN', `service ${JSON.stringify(service)} may not publish ${topic}; allowed publishers: ${allowed.join(', ')}.`, { permanent: true });
  }
}

/** A server that did not answer; names which one and where. */
export class ServerUnreachableError extends SyncError {
  readonly server: string;
  readonly address: string;
  constructor(server: string, address: string, options?: { cause?: unknown }) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message.replace(/\.+$/, '')}` : '';
    super('SERVER_UNREACHABLE', `${server} did not answer at ${address}${reason}. Is it running, and is the address right?`, options);
    this.server = server;
    this.address = address;
  }
}

/** An event too large for the transport; raised by `publish` before anything of the call is sent. */
export class PayloadTooLargeError extends SyncError {
  readonly transport: string;
  readonly topic: string;
  readonly bytes: number;
  readonly maxBytes: number;
  constructor(transport: string, topic: string, eventId: string, bytes: number, maxBytes: number) {
    super(
      'PAYLOAD_TOO_LARGE',
      `event ${eventId} on ${topic} is ${bytes} bytes as JSON; the ${transport} transport accepts at most ${maxBytes}. ` +
        'Keep large documents out of events (send an id or a link), or raise the limit where the transport allows it.',
      { permanent: true },
    );
    this.transport = transport;
    this.topic = topic;
    this.bytes = bytes;
    this.maxBytes = maxBytes;
  }
}

/** Wraps a non-SyncError thrown by a handler, keeping it as `cause`. */
export class HandlerError extends SyncError {
  constructor(cause: unknown) {
    super('HANDLER_FAILED', cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** True when the error can never succeed on retry. */
export function isPermanent(error: unknown): boolean {
  return error instanceof SyncError && error.permanent;
}

/** The class name of an error, for dead-letter context (`TypeError`, `SchemaValidationError`, ...). */
export function errorClassOf(error: unknown): string {
  if (error instanceof Error) return error.constructor.name || error.name;
  return typeof error;
}

function describeValue(value: unknown): string {
  if (value === undefined) return '(missing)';
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
