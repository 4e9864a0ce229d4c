import { context, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Link, type Span, type Tracer } from '@opentelemetry/api';
import {
  contextFromTraceparent,
  DATASYNC_ATTRIBUTES,
  enabledTracer,
  failSpan,
  MESSAGING_ATTRIBUTES,
  MESSAGING_SYSTEM,
} from '../../observability/tracing.js';
import type { Handler, InboundMessage, Middleware, Outcome } from '../pipeline.js';

/**
 * The `process <topic>` span (CONSUMER) of each delivery, after the OpenTelemetry messaging
 * conventions: its parent is the event's `send <topic>` span (from the envelope's
 * `traceparent`), which it also links to, so one trace follows a change from its owner through
 * every consumer that publishes in turn. The span covers the whole handling, retries and dead
 * letter included, and records `datasync.outcome`; a dead-lettered event sets status ERROR
 * with the last error recorded.
 *
 * Meant as the outermost middleware. It does not make the span active for the rest of the
 * pipeline: group commit runs handlers of several events from one async context, so the span
 * travels on the message (`traceContext`) and the innermost handler enters it with
 * {@link runInSpanContext}. With tracing off the message passes through untouched.
 */
export const traceProcess: Middleware = (next) => (message) => {
  const tracer = enabledTracer();
  // Off: no wrapper at all (not even an async frame), so the path costs what it did without tracing.
  return tracer ? processInSpan(tracer, next, message) : next(message);
};

async function processInSpan(tracer: Tracer, next: Handler, message: InboundMessage): Promise<Outcome> {
  const topic = message.subscription.topic.name;
  const event = message.event;
  const parent = event ? contextFromTraceparent(event) : ROOT_CONTEXT;
  const sendSpan = trace.getSpanContext(parent);
  const links: Link[] = sendSpan ? [{ context: sendSpan }] : [];
  const span = tracer.startSpan(`process ${topic}`, { kind: SpanKind.CONSUMER, attributes: processAttributes(message, topic), links }, parent);
  try {
    const outcome = await next({ ...message, traceContext: trace.setSpan(parent, span) });
    settle(span, message, outcome);
    return outcome;
  } catch (error) {
    // Not settled: the consumer is closing, or the dead letter could not be recorded; the delivery stays pending.
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Runs `fn` with the message's `process` span as the active context (as is, without tracing):
 * what the handler publishes then becomes a child of that span. The consumer calls the
 * handler through this.
 */
export function runInSpanContext<T>(message: Pick<InboundMessage, 'traceContext'>, fn: () => T): T {
  return message.traceContext ? context.with(message.traceContext, fn) : fn();
}

function processAttributes(message: InboundMessage, topic: string): Attributes {
  const attributes: Attributes = {
    [MESSAGING_ATTRIBUTES.system]: MESSAGING_SYSTEM,
    [MESSAGING_ATTRIBUTES.systemName]: MESSAGING_SYSTEM,
    [MESSAGING_ATTRIBUTES.operationName]: 'process',
    [MESSAGING_ATTRIBUTES.operationType]: 'process',
    [MESSAGING_ATTRIBUTES.destinationName]: topic,
    [MESSAGING_ATTRIBUTES.consumerGroupName]: message.consumer,
    [DATASYNC_ATTRIBUTES.deliveryAttempt]: message.delivery.attempt,
  };
  const event = message.event;
  if (event) {
    attributes[MESSAGING_ATTRIBUTES.messageId] = event.id;
    if (event.correlationid !== undefined) attributes[MESSAGING_ATTRIBUTES.conversationId] = event.correlationid;
    if (event.subject !== undefined) attributes[DATASYNC_ATTRIBUTES.subject] = event.subject;
  }
  return attributes;
}

function settle(span: Span, message: InboundMessage, outcome: Outcome): void {
  const failures = message.failures;
  span.setAttribute(DATASYNC_ATTRIBUTES.outcome, outcome);
  span.setAttribute(DATASYNC_ATTRIBUTES.attempts, Math.max(1, failures.attempts + (outcome === 'dead_lettered' ? 0 : 1)));
  if (outcome === 'dead_lettered') failSpan(span, failures.lastError ?? new Error(message.parseError?.message ?? 'dead-lettered'));
}
