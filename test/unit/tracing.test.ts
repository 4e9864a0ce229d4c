import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, createTraceState, INVALID_SPAN_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineTopic } from '../../src/core/contracts.js';
import { createEnvelope, type CloudEvent } from '../../src/core/envelope.js';
import { ConfigurationError } from '../../src/core/errors.js';
import {
  contextFromTraceparent,
  enabledTracer,
  formatTraceparent,
  parseTraceparent,
  startSendSpan,
  startTracing,
  tracingFromEnv,
  type TracingHandle,
} from '../../src/observability/tracing.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import type { QueryResult, SqlExecutor } from '../../src/postgres/sql.js';
import { traceProcess, runInSpanContext } from '../../src/runtime/middleware/tracing.js';
import { compose, type InboundMessage, type Outcome } from '../../src/runtime/pipeline.js';
import { on } from '../../src/runtime/service.js';

const topic = defineTopic<{ id: string }>({
  name: 'catalog.product.updated', version: 1, owner: 'catalog', publishers: ['catalog', 'search'], subscribers: ['search'],
  schema: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
  partitionKey: (data) => data.id,
});

/** Records the parameters of every statement (the unit tier has no database). */
function recorder(): SqlExecutor & { params: unknown[][] } {
  const params: unknown[][] = [];
  return {
    params,
    query<R extends object>(_sql: string, values?: readonly unknown[]): Promise<QueryResult<R>> {
      params.push([...(values ?? [])]);
      return Promise.resolve({ rows: [], rowCount: 1 });
    },
  };
}

/** A delivery of `event` as the consumer hands it to the pipeline. */
function inbound(event: CloudEvent, consumer = 'search'): InboundMessage {
  return {
    delivery: { id: '1-0', topic: topic.name, attempt: 1, body: JSON.stringify(event), metadata: {}, ack: async () => undefined, nack: async () => undefined },
    consumer,
    subscription: on(topic, async () => undefined) as InboundMessage['subscription'],
    event,
    attempt: 1,
    failures: { attempts: 0 },
    signal: new AbortController().signal,
  };
}

describe('traceparent helpers (W3C trace context)', () => {
  const spanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };

  it('formats a span context as a version-00 traceparent and parses it back', () => {
    const headers = formatTraceparent(spanContext);
    expect(headers).toEqual({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(parseTraceparent(headers)).toMatchObject({ ...spanContext, isRemote: true });
  });

  it('carries tracestate both ways', () => {
    const headers = formatTraceparent({ ...spanContext, traceFlags: TraceFlags.NONE, traceState: createTraceState('vendor=abc,other=1') });
    expect(headers).toEqual({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', tracestate: 'vendor=abc,other=1' });
    const parsed = parseTraceparent(headers)!;
    expect(parsed.traceFlags).toBe(TraceFlags.NONE);
    expect(parsed.traceState?.get('vendor')).toBe('abc');
    expect(formatTraceparent(parsed)).toEqual(headers);
  });

  it('formats nothing for an invalid span context and parses nothing from an unusable traceparent', () => {
    expect(formatTraceparent(INVALID_SPAN_CONTEXT)).toEqual({});
    for (const traceparent of [undefined, '', 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']) {
      expect(parseTraceparent({ traceparent })).toBeUndefined();
    }
  });
});

describe('tracingFromEnv', () => {
  it('is off by default and reads DATASYNC_TRACING, else OTEL_TRACES_EXPORTER', () => {
    expect(tracingFromEnv({})).toEqual({ exporter: 'none' });
    expect(tracingFromEnv({ DATASYNC_TRACING: 'otlp' })).toEqual({ exporter: 'otlp' });
    expect(tracingFromEnv({ DATASYNC_TRACING: 'Console' })).toEqual({ exporter: 'console' });
    expect(tracingFromEnv({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({ exporter: 'otlp' });
    expect(tracingFromEnv({ DATASYNC_TRACING: 'none', OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({ exporter: 'none' });
    expect(tracingFromEnv({ DATASYNC_TRACING: '', OTEL_TRACES_EXPORTER: 'console' })).toEqual({ exporter: 'console' });
  });

  it.each([
    ['DATASYNC_TRACING', { DATASYNC_TRACING: 'jaeger' }, 'jaeger'],
    ['OTEL_TRACES_EXPORTER', { OTEL_TRACES_EXPORTER: 'zipkin' }, 'zipkin'],
  ])('rejects an unknown value of %s naming the variable, the value and the allowed values', (variable, env, value) => {
    let thrown: unknown;
    try {
      tracingFromEnv(env);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigurationError);
    expect(thrown).toMatchObject({ code: 'CONFIGURATION_INVALID', field: variable });
    const message = (thrown as Error).message;
    for (const part of [variable, value, 'otlp', 'console', 'none']) expect(message).toContain(part);
  });

  it('startTracing refuses an unknown exporter or a missing service name', async () => {
    await expect(startTracing({ exporter: 'kafka' as 'otlp', serviceName: 'catalog' })).rejects.toMatchObject({ field: 'tracing.exporter' });
    await expect(startTracing({ exporter: 'console', serviceName: '' })).rejects.toMatchObject({ field: 'tracing.serviceName' });
    await expect(startTracing({ exporter: 'otlp', serviceName: 'catalog', otlpEndpoint: '127.0.0.1:4318' })).rejects.toMatchObject({ field: 'tracing.otlpEndpoint' });
  });
});

describe('tracing off (no SDK registered)', () => {
  it('uses no tracer and leaves traceparent unset in the outbox row and the envelope', async () => {
    expect(enabledTracer()).toBeUndefined();
    const tx = recorder();
    const event = await new OutboxWriter({ service: 'catalog' }).publish(tx, topic, { id: 'p1' });
    expect(event.traceparent).toBeUndefined();
    expect(event.traceid).toBeUndefined();
    expect(event.tracestate).toBeUndefined();
    expect(tx.params[0]![4]).toBeNull(); // the outbox traceparent column
    expect(JSON.parse(tx.params[0]![3] as string)).not.toHaveProperty('traceparent');
  });

  it('keeps a traceparent the caller passed', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const tx = recorder();
    const event = await new OutboxWriter({ service: 'catalog' }).publish(tx, topic, { id: 'p1' }, { traceparent, tracestate: 'a=b' });
    expect(event).toMatchObject({ traceparent, traceid: traceparent, tracestate: 'a=b' });
    expect(tx.params[0]![4]).toBe(traceparent);
  });

  it('startTracing with exporter none and no processor registers nothing', async () => {
    const handle = await startTracing({ exporter: 'none', serviceName: 'catalog' });
    expect(enabledTracer()).toBeUndefined();
    await handle.shutdown();
  });

  it('the process middleware passes the message through untouched', async () => {
    const message = inbound(createEnvelope({ topic: topic.name, version: 1, source: 'catalog', data: { id: 'p1' } }));
    let seen: InboundMessage | undefined;
    const outcome = await traceProcess(async (m) => {
      seen = m;
      return 'applied';
    })(message);
    expect(outcome).toBe('applied');
    expect(seen).toBe(message);
    expect(startSendSpan(topic.name, { id: 'x' })).toEqual({ span: undefined });
  });
});

describe('tracing on (in-memory exporter)', () => {
  // A shut-down exporter stays stopped: a fresh one per test.
  let exporter: InMemorySpanExporter;
  let tracing: TracingHandle;
  beforeEach(async () => {
    exporter = new InMemorySpanExporter();
    tracing = await startTracing({ exporter: 'none', serviceName: 'unit', spanProcessor: new SimpleSpanProcessor(exporter) });
  });
  afterEach(async () => {
    await tracing.shutdown();
  });

  const spans = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === name);

  it('refuses to start twice and undoes the global registration on shutdown', async () => {
    await expect(startTracing({ exporter: 'none', serviceName: 'again', spanProcessor: new SimpleSpanProcessor(new InMemorySpanExporter()) }))
      .rejects.toMatchObject({ field: 'tracing' });
    expect(enabledTracer()).toBeDefined();
    await tracing.shutdown();
    expect(enabledTracer()).toBeUndefined();
    expect(context.with(trace.setSpanContext(context.active(), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 }), () => trace.getSpanContext(context.active()))).toBeUndefined();
  });

  it('writes a send span whose context is the event\'s traceparent, with the messaging attributes', async () => {
    const tx = recorder();
    const event = await new OutboxWriter({ service: 'catalog' }).publish(tx, topic, { id: 'p1' }, { correlationId: 'order-7' });
    const [send] = spans(`send ${topic.name}`);
    expect(send).toBeDefined();
    expect(send!.kind).toBe(SpanKind.PRODUCER);
    expect(send!.attributes).toMatchObject({
      'messaging.system': 'datasync',
      'messaging.operation.type': 'send',
      'messaging.destination.name': topic.name,
      'messaging.message.id': event.id,
      'messaging.message.conversation_id': 'order-7',
    });
    const expected = formatTraceparent(send!.spanContext()).traceparent;
    expect(event.traceparent).toBe(expected);
    expect(event.traceid).toBe(expected);
    expect(tx.params[0]![4]).toBe(expected);
  });

  it('makes a traceparent the caller passed the send span\'s parent; the event carries the send span', async () => {
    const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const event = await new OutboxWriter({ service: 'catalog' }).publish(recorder(), topic, { id: 'p1' }, { traceparent: caller });
    const [send] = spans(`send ${topic.name}`);
    expect(send!.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(send!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(event.traceparent).toBe(formatTraceparent(send!.spanContext()).traceparent);
  });

  it('marks the send span failed when the insert fails', async () => {
    const failing: SqlExecutor = { query: () => Promise.reject(new Error('relation "outbox" does not exist')) };
    await expect(new OutboxWriter({ service: 'catalog' }).publish(failing, topic, { id: 'p1' })).rejects.toThrow('does not exist');
    const [send] = spans(`send ${topic.name}`);
    expect(send!.status.code).toBe(SpanStatusCode.ERROR);
    expect(send!.events.map((e) => e.name)).toContain('exception');
  });

  it('processes as a child of and linked to the send span; a publish in the handler continues the trace', async () => {
    const writer = new OutboxWriter({ service: 'search' });
    const source = await new OutboxWriter({ service: 'catalog' }).publish(recorder(), topic, { id: 'p1' });
    let followUp: CloudEvent | undefined;
    const pipeline = compose([traceProcess], async (message) => {
      // As group commit may: the handler is entered from another event's async context.
      const another = contextFromTraceparent({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
      return context.with(another, () => runInSpanContext(message, async (): Promise<Outcome> => {
        followUp = await writer.publish(recorder(), topic, { id: 'p1' }, { causationId: message.event!.id });
        return 'applied';
      }));
    });
    expect(await pipeline(inbound(source))).toBe('applied');

    const [firstSend, secondSend] = spans(`send ${topic.name}`);
    const [process] = spans(`process ${topic.name}`);
    expect(process!.kind).toBe(SpanKind.CONSUMER);
    expect(process!.spanContext().traceId).toBe(firstSend!.spanContext().traceId);
    expect(process!.parentSpanContext?.spanId).toBe(firstSend!.spanContext().spanId);
    expect(process!.links.map((l) => l.context.spanId)).toEqual([firstSend!.spanContext().spanId]);
    expect(process!.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': 'search',
      'messaging.message.id': source.id,
      'datasync.outcome': 'applied',
      'datasync.attempts': 1,
      'datasync.delivery.attempt': 1,
    });
    expect(secondSend!.parentSpanContext?.spanId).toBe(process!.spanContext().spanId);
    expect(followUp!.traceparent).toBe(formatTraceparent(secondSend!.spanContext()).traceparent);
  });

  it('sets ERROR and records the last error when the event is dead-lettered', async () => {
    const message = inbound(createEnvelope({ topic: topic.name, version: 1, source: 'catalog', data: { id: 'p1' } }));
    const outcome = await traceProcess(async (m) => {
      m.failures.attempts = 4;
      m.failures.lastError = new Error('price must be positive');
      return 'dead_lettered';
    })(message);
    expect(outcome).toBe('dead_lettered');
    const [process] = spans(`process ${topic.name}`);
    expect(process!.parentSpanContext).toBeUndefined(); // the event carried no traceparent: a new trace
    expect(process!.links).toEqual([]);
    expect(process!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'price must be positive' });
    expect(process!.attributes).toMatchObject({ 'datasync.outcome': 'dead_lettered', 'datasync.attempts': 4 });
    expect(process!.events.find((e) => e.name === 'exception')?.attributes?.['exception.message']).toBe('price must be positive');
  });
});

describe('the OTLP exporter', () => {
  it('posts the spans as OTLP/HTTP JSON to <otlpEndpoint>/v1/traces, flushed by shutdown', async () => {
    const received: { url: string | undefined; body: string }[] = [];
    const collector = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => { body += chunk.toString('utf8'); });
      req.on('end', () => {
        received.push({ url: req.url, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = collector.address() as AddressInfo;
      const tracing = await startTracing({ exporter: 'otlp', serviceName: 'catalog', otlpEndpoint: `http://127.0.0.1:${port}/` });
      await new OutboxWriter({ service: 'catalog' }).publish(recorder(), topic, { id: 'p1' });
      await tracing.shutdown();
      expect(received.map((r) => r.url)).toEqual(['/v1/traces']);
      expect(received[0]!.body).toContain(`"send ${topic.name}"`);
      expect(received[0]!.body).toContain('"catalog"'); // service.name
      expect(enabledTracer()).toBeUndefined();
    } finally {
      await new Promise((resolve) => collector.close(resolve));
    }
  });
});
