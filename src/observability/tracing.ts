import { readFileSync } from 'node:fs';
import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ConfigurationError, errorClassOf } from '../core/errors.js';

/**
 * OpenTelemetry tracing of the path of one change, after the messaging semantic conventions:
 * a `send <topic>` span (PRODUCER) when an event is written to the outbox, whose context the
 * event carries as `traceparent` (outbox column and envelope), and a `process <topic>` span
 * (CONSUMER) in each consumer, child of and linked to it. Off by default: without a registered
 * SDK the runtime skips the instrumentation altogether (see {@link enabledTracer}).
 *
 * Only `@opentelemetry/api` and `@opentelemetry/core` load with this module; the SDK and the
 * exporters load when {@link startTracing} runs, so a process with tracing off does not pay
 * for them at start-up either.
 */

/** The instrumentation scope name of datasync's spans. */
export const TRACER_NAME = 'datasync';

/** The instrumentation scope version: the package version (package.json sits two folders up from src/observability and dist/observability). */
export const TRACER_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * Attribute names of the OpenTelemetry messaging semantic conventions that datasync sets,
 * copied here as the semantic-conventions package recommends for its incubating entries.
 */
export const MESSAGING_ATTRIBUTES = {
  /** The messaging system (deprecated name, still what most backends group by). */
  system: 'messaging.system',
  /** The messaging system (current name). */
  systemName: 'messaging.system.name',
  operationName: 'messaging.operation.name',
  /** `send` for the producer span, `process` for the consumer span. */
  operationType: 'messaging.operation.type',
  /** The topic. */
  destinationName: 'messaging.destination.name',
  /** The consuming service (its consumer group). */
  consumerGroupName: 'messaging.consumer.group.name',
  /** The event id. */
  messageId: 'messaging.message.id',
  /** The event's correlation id. */
  conversationId: 'messaging.message.conversation_id',
} as const;

/** datasync's own span attributes (the conventions have none for these). */
export const DATASYNC_ATTRIBUTES = {
  /** How the consumer settled the event: `applied`, `duplicate`, `stale` or `dead_lettered`. */
  outcome: 'datasync.outcome',
  /** The broker's delivery count of the message (1 on first delivery, more when redelivered). */
  deliveryAttempt: 'datasync.delivery.attempt',
  /** Tries the consumer spent on this delivery (retries included). */
  attempts: 'datasync.attempts',
  /** The entity id (`subject`) of the event. */
  subject: 'datasync.subject',
} as const;

/** The value of `messaging.system` on datasync's spans. */
export const MESSAGING_SYSTEM = 'datasync';

/**
 * datasync's tracer from the global provider: `trace.getTracer('datasync', <version>)`. With
 * no SDK registered this is the API's no-op tracer. Asked for at each use rather than kept, so
 * a provider registered (or removed) later is the one used.
 */
export function datasyncTracer(): Tracer {
  return trace.getTracer(TRACER_NAME, TRACER_VERSION);
}

/**
 * datasync's tracer when an SDK is registered, `undefined` while the global provider is the
 * API's no-op: the runtime then skips creating spans, so tracing off costs a type check per
 * event. A provider registered through another copy of `@opentelemetry/api` is not the proxy
 * class of this copy; it is then used as it is.
 */
export function enabledTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  if (provider instanceof ProxyTracerProvider) return provider.getDelegateTracer(TRACER_NAME, TRACER_VERSION);
  return provider.getTracer(TRACER_NAME, TRACER_VERSION);
}

/** The W3C trace context fields an event carries (CloudEvents distributed tracing extension). */
export interface TraceHeaders {
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** Always W3C: the envelope field is `traceparent` whatever propagator the process registered. */
const w3c = new W3CTraceContextPropagator();

/** The `traceparent` (and `tracestate`, when the span has one) of a span context; empty for an invalid one. */
export function formatTraceparent(spanContext: SpanContext): TraceHeaders {
  if (!isSpanContextValid(spanContext)) return {};
  const carrier: Record<string, string> = {};
  w3c.inject(trace.setSpanContext(ROOT_CONTEXT, spanContext), carrier, defaultTextMapSetter);
  return carrier;
}

/**
 * The remote span context in `traceparent` (with `tracestate`), or `undefined` when there is
 * none or it is not a valid W3C `traceparent` (version `00` with a non-zero trace and span id).
 */
export function parseTraceparent(headers: TraceHeaders): SpanContext | undefined {
  const spanContext = trace.getSpanContext(contextFromTraceparent(headers));
  return spanContext && isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** `base` with the remote span of `traceparent` as its parent; `base` itself when there is none. */
export function contextFromTraceparent(headers: TraceHeaders, base: Context = ROOT_CONTEXT): Context {
  if (!headers.traceparent) return base;
  const carrier: Record<string, string> = { traceparent: headers.traceparent };
  if (headers.tracestate) carrier.tracestate = headers.tracestate;
  return w3c.extract(base, carrier, defaultTextMapGetter);
}

/** A `send <topic>` span in progress and the trace fields the event it describes carries. */
export interface SendTrace extends TraceHeaders {
  /** Undefined while tracing is off. */
  readonly span: Span | undefined;
}

/** What the `send` span says about the event. */
export interface SendEventInfo {
  readonly id: string;
  readonly correlationId?: string;
  readonly subject?: string;
}

const UNTRACED: SendTrace = Object.freeze({ span: undefined });

/**
 * Starts the `send <topic>` span (PRODUCER) of an event about to be written to the outbox,
 * child of the active span (or of `explicit`, when the caller passed a `traceparent`), and
 * returns the `traceparent`/`tracestate` the event carries: the span's own. With tracing off no span is made; the event carries `explicit`, else the active
 * span's context if one is valid, else no trace fields at all. End it with {@link endSendSpans}.
 */
export function startSendSpan(topic: string, event: SendEventInfo, explicit: TraceHeaders = {}): SendTrace {
  const tracer = enabledTracer();
  if (!tracer) {
    if (explicit.traceparent) return { span: undefined, traceparent: explicit.traceparent, tracestate: explicit.tracestate };
    const active = trace.getSpanContext(context.active());
    return active && isSpanContextValid(active) ? { span: undefined, ...formatTraceparent(active) } : UNTRACED;
  }
  const attributes: Attributes = {
    [MESSAGING_ATTRIBUTES.system]: MESSAGING_SYSTEM,
    [MESSAGING_ATTRIBUTES.systemName]: MESSAGING_SYSTEM,
    [MESSAGING_ATTRIBUTES.operationName]: 'send',
    [MESSAGING_ATTRIBUTES.operationType]: 'send',
    [MESSAGING_ATTRIBUTES.destinationName]: topic,
    [MESSAGING_ATTRIBUTES.messageId]: event.id,
  };
  if (event.correlationId !== undefined) attributes[MESSAGING_ATTRIBUTES.conversationId] = event.correlationId;
  if (event.subject !== undefined) attributes[DATASYNC_ATTRIBUTES.subject] = event.subject;
  const parent = explicit.traceparent ? contextFromTraceparent(explicit, context.active()) : context.active();
  const span = tracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER, attributes }, parent);
  // the event carries the send span itself (a child of `explicit` when given), so its consumers' process spans link to it
  return { span, ...formatTraceparent(span.spanContext()) };
}

/** Ends `send` spans once the outbox insert returned; with `error`, each is marked failed with it. */
export function endSendSpans(sends: readonly SendTrace[], error?: unknown): void {
  for (const { span } of sends) {
    if (!span) continue;
    if (error !== undefined) failSpan(span, error);
    span.end();
  }
}

/** Records `error` on `span` and sets its status to ERROR. */
export function failSpan(span: Span, error: unknown): void {
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : `a thrown ${errorClassOf(error)}`;
  span.recordException(error instanceof Error ? error : message);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** Where spans go: an OTLP/HTTP collector, the console, or nowhere (tracing off). */
export type TracingExporter = 'otlp' | 'console' | 'none';

/** The exporters {@link tracingFromEnv} accepts. */
export const TRACING_EXPORTERS: readonly TracingExporter[] = ['otlp', 'console', 'none'];

/** Configuration of {@link startTracing}. */
export interface TracingOptions {
  /**
   * `otlp`: OTLP/HTTP (JSON) to `otlpEndpoint`, else the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
   * / `OTEL_EXPORTER_OTLP_ENDPOINT`, else `http://localhost:4318`; `console`: each span printed to
   * stdout; `none`: no exporter (only `spanProcessor`, if given). Required.
   */
  readonly exporter: TracingExporter;
  /** `service.name` of the resource: the service (or platform process) the spans come from. Required. */
  readonly serviceName: string;
  /**
   * The collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is appended), e.g.
   * `http://127.0.0.1:4318`. Default: the environment variables, as above.
   */
  readonly otlpEndpoint?: string;
  /** An extra processor, e.g. `SimpleSpanProcessor(new InMemorySpanExporter())` in tests. */
  readonly spanProcessor?: SpanProcessor;
}

/** Tracing that {@link startTracing} started. */
export interface TracingHandle {
  /** Flushes the spans still queued, stops the exporters and removes the global registration. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Starts an OpenTelemetry SDK and registers it globally (tracer provider, AsyncLocalStorage
 * context manager, W3C trace context propagator), so datasync's producers and consumers
 * record spans. With `exporter: 'none'` and no `spanProcessor` nothing is registered and
 * tracing stays off. Spans go to their exporter in batches (BatchSpanProcessor).
 *
 * One tracing per process: if another SDK already registered a tracer provider, this
 * rejects with ConfigurationError. A context manager or propagator someone else registered
 * is kept (any works) and left alone by `shutdown()`.
 */
export async function startTracing(options: TracingOptions): Promise<TracingHandle> {
  if (!TRACING_EXPORTERS.includes(options.exporter)) throw new ConfigurationError('tracing.exporter', options.exporter, `one of ${TRACING_EXPORTERS.join(', ')}`);
  if (typeof options.serviceName !== 'string' || options.serviceName === '') throw new ConfigurationError('tracing.serviceName', options.serviceName, 'the name of the service the spans come from');
  if (options.otlpEndpoint !== undefined && !isHttpUrl(options.otlpEndpoint)) throw new ConfigurationError('tracing.otlpEndpoint', options.otlpEndpoint, 'an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318');
  if (options.exporter === 'none' && !options.spanProcessor) return { shutdown: async () => undefined };

  const [{ BasicTracerProvider, BatchSpanProcessor, ConsoleSpanExporter }, { AsyncLocalStorageContextManager }, { defaultResource, resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/resources'),
  ]);
  const processors: SpanProcessor[] = [];
  if (options.spanProcessor) processors.push(options.spanProcessor);
  if (options.exporter === 'otlp') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter(options.otlpEndpoint ? { url: tracesUrl(options.otlpEndpoint) } : {})));
  } else if (options.exporter === 'console') {
    processors.push(new BatchSpanProcessor(new ConsoleSpanExporter()));
  }
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': options.serviceName })),
    spanProcessors: processors,
  });
  if (!trace.setGlobalTracerProvider(provider)) {
    await provider.shutdown();
    throw new ConfigurationError('tracing', 'already started', 'one tracing per process: shut the running one (or the other OpenTelemetry SDK) down first');
  }
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const ownsContext = context.setGlobalContextManager(contextManager);
  if (!ownsContext) contextManager.disable();
  const ownsPropagator = propagation.setGlobalPropagator(new W3CTraceContextPropagator());

  let stopping: Promise<void> | undefined;
  return {
    shutdown() {
      stopping ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          trace.disable();
          if (ownsContext) context.disable();
          if (ownsPropagator) propagation.disable();
        }
      })();
      return stopping;
    },
  };
}

/**
 * The tracing configuration of the environment: `DATASYNC_TRACING` (`otlp`, `console` or
 * `none`), else the standard `OTEL_TRACES_EXPORTER`, else `none`. The OTLP endpoint comes
 * from `OTEL_EXPORTER_OTLP_ENDPOINT` (read by the exporter itself). An unknown value throws
 * ConfigurationError naming the variable, the value and the allowed values.
 */
export function tracingFromEnv(env: NodeJS.ProcessEnv = process.env): { exporter: TracingExporter } {
  for (const variable of ['DATASYNC_TRACING', 'OTEL_TRACES_EXPORTER'] as const) {
    const raw = env[variable]?.trim();
    if (!raw) continue;
    const value = raw.toLowerCase();
    if (!(TRACING_EXPORTERS as readonly string[]).includes(value)) throw new ConfigurationError(variable, raw, `one of ${TRACING_EXPORTERS.join(', ')}`);
    return { exporter: value as TracingExporter };
  }
  return { exporter: 'none' };
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/** The traces URL under a collector's base URL, as the exporter derives it from OTEL_EXPORTER_OTLP_ENDPOINT. */
function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}
