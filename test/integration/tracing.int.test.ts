import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { CloudEvent } from '../../src/core/envelope.js';
import { formatTraceparent, startTracing, type TracingHandle } from '../../src/observability/tracing.js';
import { migrate } from '../../src/postgres/migrations.js';
import { startRelay } from '../../src/postgres/relay.js';
import { startConsumer, type SettledInfo } from '../../src/runtime/consumer.js';
import { createProducer } from '../../src/runtime/producer.js';
import { defineService, on } from '../../src/runtime/service.js';
import { createPostgresTransport } from '../../src/transports/postgres/index.js';
import { effectsMigration, itemTopic, recordEffect, uniqueTopicName, type Item } from '../support/pipeline.js';
import { describeWithServers, POSTGRES_URL, uniqueName, waitFor } from '../support/servers.js';

// One change through three services over the postgres transport: owner A writes the event to its
// outbox, B applies it and publishes a follow-up from its handler (as Search publishes
// search.product.invalidated), C applies that. With tracing on, all of it is one trace per change.

describeWithServers(['postgres'], 'tracing: send and process spans across outbox → relay → consumer → outbox → consumer', () => {
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 12 });
  const cleanups: (() => Promise<unknown>)[] = [];
  const schemas: string[] = [];
  let exporter: InMemorySpanExporter;
  let tracing: TracingHandle | undefined;

  beforeAll(async () => {
    exporter = new InMemorySpanExporter();
    tracing = await startTracing({ exporter: 'none', serviceName: 'tracing-int', spanProcessor: new SimpleSpanProcessor(exporter) });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    for (const schema of schemas.splice(0)) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  afterAll(async () => {
    // Undo the global registration (tracer provider, context manager, propagator) for other files.
    await tracing?.shutdown();
    await pool.end();
  });

  function schema(prefix: string): string {
    const name = uniqueName(prefix);
    schemas.push(name);
    return name;
  }

  const spansNamed = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === name);
  const spanId = (span: ReadableSpan): string => span.spanContext().spanId;
  const traceId = (span: ReadableSpan): string => span.spanContext().traceId;

  it('links send → process → send → process in one trace per change; traceparent is in the outbox row and the envelope', async () => {
    const [a, b, c] = [schema('a'), schema('b'), schema('c')];
    const transportSchema = schema('tt');
    const changed = itemTopic(uniqueTopicName(), a, [b]);
    const invalidated = itemTopic(uniqueTopicName(), b, [c]);
    const transport = await createPostgresTransport({ connectionString: POSTGRES_URL, schema: transportSchema, pollIntervalMs: 20 });
    cleanups.push(() => transport.close());

    await migrate(pool, a);
    const ownerA = createProducer({ service: a, pool });
    const producerB = createProducer({ service: b, pool });
    const serviceB = defineService({
      name: b,
      handlers: [on(changed, async ({ event, tx }) => {
        await producerB.publishWithin(tx, invalidated, event.data, { causationId: event.id, correlationId: event.correlationid });
      })],
    });
    const received: CloudEvent<Item>[] = [];
    const serviceC = defineService({
      name: c,
      migrations: [effectsMigration],
      handlers: [on(invalidated, async (args) => {
        received.push(args.event);
        await recordEffect(args.tx, c, args);
      })],
    });
    const settledC: SettledInfo[] = [];
    const consumerB = await startConsumer(serviceB, { pool, transport });
    cleanups.push(() => consumerB.close());
    const consumerC = await startConsumer(serviceC, { pool, transport, hooks: { onSettled: (info) => settledC.push(info) } });
    cleanups.push(() => consumerC.close());
    for (const outbox of [a, b]) {
      const relay = await startRelay({ connectionString: POSTGRES_URL, schema: outbox, publisher: transport.publisher });
      cleanups.push(() => relay.close());
    }

    // Five changes of different products at once: B's consumer runs several in one group-commit
    // transaction, where a handler may be entered from another event's async context.
    const published = await Promise.all(Array.from({ length: 5 }, (_, i) =>
      ownerA.transaction((tx) => tx.publish(changed, { id: `p${i}`, seq: 1 }))));
    await waitFor('C to apply the five follow-ups', () => settledC.length >= 5, 30_000);
    await waitFor('every span to end', () => spansNamed(`process ${invalidated.name}`).length >= 5, 5_000);

    const sendA = spansNamed(`send ${changed.name}`);
    const processB = spansNamed(`process ${changed.name}`);
    const sendB = spansNamed(`send ${invalidated.name}`);
    const processC = spansNamed(`process ${invalidated.name}`);
    expect([sendA.length, processB.length, sendB.length, processC.length]).toEqual([5, 5, 5, 5]);
    expect(new Set(exporter.getFinishedSpans().map((s) => s.name))).toEqual(new Set([
      `send ${changed.name}`, `process ${changed.name}`, `send ${invalidated.name}`, `process ${invalidated.name}`,
    ]));

    const rows = (await pool.query<{ event_id: string; traceparent: string | null; envelope: CloudEvent<Item> }>(
      `SELECT event_id, traceparent, envelope FROM "${a}".outbox`,
    )).rows;
    for (const event of published) {
      // A's send span: its context is what the event carries, in the outbox column and the envelope.
      const send = sendA.find((s) => s.attributes['messaging.message.id'] === event.id)!;
      expect(send.kind).toBe(SpanKind.PRODUCER);
      expect(send.attributes).toMatchObject({
        'messaging.system': 'datasync', 'messaging.operation.type': 'send', 'messaging.destination.name': changed.name,
        'messaging.message.conversation_id': event.id,
      });
      const traceparent = formatTraceparent(send.spanContext()).traceparent;
      expect(event.traceparent).toBe(traceparent);
      const row = rows.find((r) => r.event_id === event.id)!;
      expect(row.traceparent).toBe(traceparent);
      expect(row.envelope.traceparent).toBe(traceparent);
      expect(row.envelope.traceid).toBe(traceparent);

      // B's process span: child of and linked to A's send span.
      const process = processB.find((s) => s.attributes['messaging.message.id'] === event.id)!;
      expect(process.kind).toBe(SpanKind.CONSUMER);
      expect(traceId(process)).toBe(traceId(send));
      expect(process.parentSpanContext?.spanId).toBe(spanId(send));
      expect(process.links.map((l) => l.context.spanId)).toEqual([spanId(send)]);
      expect(process.attributes).toMatchObject({
        'messaging.operation.type': 'process', 'messaging.destination.name': changed.name,
        'messaging.consumer.group.name': b, 'datasync.outcome': 'applied', 'datasync.attempts': 1,
      });

      // B's follow-up: its send span is a child of B's process span, and C's process span of that.
      const followUp = received.find((e) => e.causationid === event.id)!;
      const forward = sendB.find((s) => s.attributes['messaging.message.id'] === followUp.id)!;
      expect(forward.parentSpanContext?.spanId).toBe(spanId(process));
      expect(followUp.traceparent).toBe(formatTraceparent(forward.spanContext()).traceparent);
      const last = processC.find((s) => s.attributes['messaging.message.id'] === followUp.id)!;
      expect(last.parentSpanContext?.spanId).toBe(spanId(forward));
      expect(last.attributes).toMatchObject({ 'messaging.consumer.group.name': c, 'datasync.outcome': 'applied' });

      // One trace from A's change to C's copy.
      expect(new Set([send, process, forward, last].map(traceId)).size).toBe(1);
    }
    expect(new Set(sendA.map(traceId)).size).toBe(5); // and a trace per change
  });
});
