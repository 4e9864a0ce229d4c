/**
 * `npm run bench:tracing`: what tracing costs per event on the consumer's process path and
 * the producer's send path, measured in one process and one run:
 *
 * - `baseline`: a handler that publishes a follow-up event with `OutboxWriter.publish` (as
 *   Search does on each product change), called directly, without the tracing middleware;
 * - `off`: the same handler behind `traceProcess` with `runInSpanContext`, no SDK registered
 *   (datasync's default);
 * - `on`: the same, with tracing started (`SimpleSpanProcessor` into an `InMemorySpanExporter`,
 *   emptied every 1,000 events): a `process` span and a `send` span per event;
 * - `onBatched`: as `on` with a `BatchSpanProcessor` (default settings), as `startTracing` uses
 *   in front of its OTLP and console exporters.
 *
 * The statement executor answers at once (no database): what is left is the CPU the runtime
 * spends per event, so the tracing share is as large as it can ever be. Rounds interleave
 * the variants; each figure is the median of the rounds, in process CPU time per event (the
 * machine's other load moves it far less than wall time, which is reported beside it). `sendPathOff` times the send span's
 * off path alone (`startSendSpan` + `endSendSpans` with no SDK), which `baseline` contains too.
 *
 * Prints the result JSON on stdout; progress goes to stderr.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { defineTopic } from '../src/core/contracts.js';
import { createEnvelope } from '../src/core/envelope.js';
import { endSendSpans, startSendSpan, startTracing, type TracingHandle } from '../src/observability/tracing.js';
import { OutboxWriter } from '../src/postgres/outbox-writer.js';
import type { QueryResult, SqlExecutor } from '../src/postgres/sql.js';
import { runInSpanContext, traceProcess } from '../src/runtime/middleware/tracing.js';
import type { Handler, InboundMessage } from '../src/runtime/pipeline.js';
import { on } from '../src/runtime/service.js';

const USAGE = `npm run bench:tracing [-- --iterations N] [--rounds R]
  per-event cost of the tracing middleware and send span: off (no SDK) and on (in-memory exporter,
  simple and batch span processor)
  against a baseline without the middleware, in the same run
  --iterations N   events per variant per round (default 200000)
  --rounds R       measured rounds, interleaving the variants (default 5; one warm-up round first)`;

interface Options {
  iterations: number;
  rounds: number;
}

function parseArgs(argv: readonly string[]): Options | number {
  const options: Options = { iterations: 200_000, rounds: 5 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const value = Number(argv[i + 1]);
    if ((arg === '--iterations' || arg === '--rounds') && Number.isInteger(value) && value >= 1) {
      options[arg === '--iterations' ? 'iterations' : 'rounds'] = value;
      i++;
      continue;
    }
    process.stderr.write(`[bench tracing] ${arg} ${argv[i + 1] ?? ''}: not understood (expected --iterations N or --rounds R, whole numbers ≥ 1)\n${USAGE}\n`);
    return 2;
  }
  return options;
}

const changed = defineTopic<{ id: string; price: number }>({
  name: 'catalog.product.updated', version: 1, owner: 'catalog', subscribers: ['search'],
  schema: { type: 'object', required: ['id', 'price'], properties: { id: { type: 'string' }, price: { type: 'number' } } },
  partitionKey: (p) => p.id,
});
const invalidated = defineTopic<{ id: string }>({
  name: 'search.product.invalidated', version: 1, owner: 'search', subscribers: ['gateway'],
  schema: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
  partitionKey: (p) => p.id,
});

/** Answers every statement at once: the bench measures the runtime's CPU, not a database. */
const instantTx: SqlExecutor = {
  query: <R extends object>(): Promise<QueryResult<R>> => Promise.resolve({ rows: [], rowCount: 1 }),
};

const writer = new OutboxWriter({ service: 'search' });

/** Search's handler: publishes the follow-up in the consumer's transaction, inside the event's span. */
const handler: Handler = (message) =>
  runInSpanContext(message, async () => {
    await writer.publish(instantTx, invalidated, { id: message.event!.subject! }, { causationId: message.event!.id, correlationId: message.event!.correlationid });
    return 'applied';
  });

/** One delivery of a product change that carries the trace context of its send span. */
function deliveryOf(): InboundMessage {
  const event = createEnvelope({
    topic: changed.name, version: 1, source: 'catalog', data: { id: 'p1', price: 10 }, subject: 'p1', partitionKey: 'p1',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  });
  return {
    delivery: { id: '1-0', topic: changed.name, attempt: 1, body: JSON.stringify(event), metadata: {}, ack: async () => undefined, nack: async () => undefined },
    consumer: 'search',
    subscription: on(changed, async () => undefined) as InboundMessage['subscription'],
    event,
    attempt: 1,
    failures: { attempts: 0 },
    signal: new AbortController().signal,
  };
}

/** Per-event cost of one timed loop, in nanoseconds. */
interface Cost {
  /** Process CPU time (user + system): what the event costs the machine, barely moved by other load. */
  readonly cpuNs: number;
  readonly wallNs: number;
}

function costOf(iterations: number, started: { wall: number; cpu: NodeJS.CpuUsage }): Cost {
  const cpu = process.cpuUsage(started.cpu);
  return { cpuNs: ((cpu.user + cpu.system) * 1e3) / iterations, wallNs: ((performance.now() - started.wall) * 1e6) / iterations };
}

/** Cost per event of `iterations` sequential calls; `everyThousand` runs between blocks (inside the timing). */
async function timeHandler(handle: Handler, iterations: number, everyThousand?: () => void): Promise<Cost> {
  const message = deliveryOf();
  const started = { wall: performance.now(), cpu: process.cpuUsage() };
  for (let i = 0; i < iterations; i++) {
    await handle({ ...message, failures: { attempts: 0 } });
    // A consumer waits for I/O between events; yield as it would, so timers (a batch processor's export) run.
    if (i % 100 === 99) await new Promise(setImmediate);
    if (everyThousand && i % 1000 === 999) everyThousand();
  }
  return costOf(iterations, started);
}

/** Cost per event of the send span's off path alone. */
function timeSendPathOff(iterations: number): Cost {
  const started = { wall: performance.now(), cpu: process.cpuUsage() };
  for (let i = 0; i < iterations; i++) endSendSpans([startSendSpan(invalidated.name, { id: 'e', correlationId: 'c', subject: 'p1' })]);
  return costOf(iterations, started);
}

/**
 * Cost per event with tracing started, spans going through `processorOf(exporter)` into an
 * in-memory exporter that is emptied every 1,000 events; also counts the spans it received.
 */
async function timeTraced(traced: Handler, iterations: number, processorOf: (exporter: InMemorySpanExporter) => SpanProcessor): Promise<{ cost: Cost; spans: number }> {
  const exporter = new InMemorySpanExporter();
  let spans = 0;
  const collect = (): void => {
    spans += exporter.getFinishedSpans().length;
    exporter.reset();
  };
  const tracing: TracingHandle = await startTracing({ exporter: 'none', serviceName: 'bench', spanProcessor: processorOf(exporter) });
  let cost: Cost;
  try {
    cost = await timeHandler(traced, iterations, collect);
  } finally {
    await tracing.shutdown(); // flushes what a batch processor still holds
  }
  collect();
  return { cost, spans };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

/** Medians of the rounds; with `baseline`, also the difference to it. */
function summary(rounds: readonly Cost[], baseline?: readonly Cost[]): Record<string, unknown> {
  const cpu = median(rounds.map((r) => r.cpuNs));
  const wall = median(rounds.map((r) => r.wallNs));
  const result: Record<string, unknown> = {
    cpuNsPerEvent: round1(cpu),
    wallNsPerEvent: round1(wall),
    eventsPerCpuSecond: Math.round(1e9 / cpu),
    rounds: rounds.map((r) => ({ cpuNs: round1(r.cpuNs), wallNs: round1(r.wallNs) })),
  };
  if (baseline) {
    const base = median(baseline.map((r) => r.cpuNs));
    result.overheadCpuNs = round1(cpu - base);
    result.overheadPct = round1(((cpu - base) / base) * 100);
    // Differences of the same round, so a round on a busier machine does not count twice.
    const paired = rounds.map((r, i) => r.cpuNs - baseline[i]!.cpuNs);
    result.pairedOverheadCpuNs = { median: round1(median(paired)), min: round1(Math.min(...paired)), max: round1(Math.max(...paired)) };
  }
  return result;
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (typeof parsed === 'number') return parsed;
  const { iterations, rounds } = parsed;
  const traced = traceProcess(handler);
  const samples = { baseline: [] as Cost[], off: [] as Cost[], on: [] as Cost[], onBatched: [] as Cost[], sendPathOff: [] as Cost[] };
  const spans = { on: 0, onBatched: 0 };

  for (let round = 0; round <= rounds; round++) {
    const warmUp = round === 0;
    // Alternate which goes first, so a drift of the machine's speed within a round does not favour one.
    let baseline: Cost;
    let off: Cost;
    if (round % 2 === 0) {
      baseline = await timeHandler(handler, iterations);
      off = await timeHandler(traced, iterations);
    } else {
      off = await timeHandler(traced, iterations);
      baseline = await timeHandler(handler, iterations);
    }
    const sendPathOff = timeSendPathOff(iterations);
    const on = await timeTraced(traced, iterations, (exporter) => new SimpleSpanProcessor(exporter));
    const onBatched = await timeTraced(traced, iterations, (exporter) => new BatchSpanProcessor(exporter));
    const show = (cost: Cost): string => `${round1(cost.cpuNs)} ns CPU (${round1(cost.wallNs)} wall)`;
    process.stderr.write(`[bench tracing] ${warmUp ? 'warm-up' : `round ${round}/${rounds}`} per event: baseline ${show(baseline)}, off ${show(off)}, on ${show(on.cost)}, on batched ${show(onBatched.cost)}; send path off ${show(sendPathOff)}\n`);
    if (warmUp) continue;
    samples.baseline.push(baseline);
    samples.off.push(off);
    samples.on.push(on.cost);
    samples.onBatched.push(onBatched.cost);
    spans.on += on.spans;
    spans.onBatched += onBatched.spans;
    samples.sendPathOff.push(sendPathOff);
  }

  const result = {
    bench: 'tracing-overhead',
    date: new Date().toISOString(),
    machine: { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown' },
    config: { iterations, rounds, path: 'traceProcess → runInSpanContext → OutboxWriter.publish (statements answered at once)' },
    results: {
      baseline: summary(samples.baseline),
      off: summary(samples.off, samples.baseline),
      on: summary(samples.on, samples.baseline),
      onBatched: summary(samples.onBatched, samples.baseline),
      sendPathOff: summary(samples.sendPathOff),
    },
    /** Spans the exporter received in the measured rounds: two per event when none was dropped. */
    spansExported: spans,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
