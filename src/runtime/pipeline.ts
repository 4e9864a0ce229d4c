import type { Context } from '@opentelemetry/api';
import type { CloudEvent } from '../core/envelope.js';
import type { SyncError } from '../core/errors.js';
import type { SqlExecutor } from '../postgres/sql.js';
import type { Delivery } from '../transports/transport.js';
import type { Subscription } from './service.js';

/** How one delivery ended; the runtime acks after every one of these. */
export type Outcome = 'applied' | 'duplicate' | 'stale' | 'dead_lettered';

/** The failures of one delivery so far, kept for the dead letter's context. */
export interface FailureLog {
  attempts: number;
  firstFailedAt?: number;
  lastFailedAt?: number;
  lastError?: unknown;
}

/** A delivery on its way through the middleware. Middleware returns a new object rather than mutating, except `failures`. */
export interface InboundMessage {
  readonly delivery: Delivery;
  /** The consuming service: group name and `processed_events.consumer`. */
  readonly consumer: string;
  readonly subscription: Subscription;
  /** Set when the body parsed; otherwise `parseError` says why. */
  readonly event?: CloudEvent;
  readonly parseError?: SyncError;
  /** 1-based try number within this delivery, set by the retry middleware. */
  readonly attempt: number;
  /** The consumer's open transaction, set by the transaction middleware. */
  readonly tx?: SqlExecutor;
  /**
   * Set when the transaction already recorded the event in `processed_events` for the
   * whole batch: true if this is its first processing, false for a duplicate.
   */
  readonly claimed?: boolean;
  readonly failures: FailureLog;
  readonly signal: AbortSignal;
  /**
   * The trace context of this event's `process <topic>` span, set by the tracing middleware
   * when tracing is on. The handler must run inside it (`runInSpanContext`), so that what it
   * publishes continues the trace: group commit may run it in another event's async context.
   */
  readonly traceContext?: Context;
}

/** One step of handling: resolves with the outcome, or throws to fail the attempt. */
export type Handler = (message: InboundMessage) => Promise<Outcome>;

/** Wraps a handler with one concern (verify, validate, idempotency, retry, dead letter, …). */
export type Middleware = (next: Handler) => Handler;

/** Composes middleware so that the first one given is the outermost. */
export function compose(middleware: readonly Middleware[], handler: Handler): Handler {
  return middleware.reduceRight((next, wrap) => wrap(next), handler);
}
