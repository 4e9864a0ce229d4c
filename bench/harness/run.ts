import type { TransportName } from '../../src/transports/connect.js';
import { BenchChild } from './children.js';
import { benchNowMs, sleep, withTimeout } from './clock.js';
import { cpuBetween, takeCpuSnapshot, waitForIdleMachine, type CpuReport, type CpuSnapshot, type ServerName } from './cpu.js';
import type { ConsumerSamples, ProducerDone } from './messages.js';
import type { BenchConfig } from './options.js';
import { round, SampleBuffer, summarize, type LatencySummary } from './stats.js';
import { loadSystem, type BenchContext, type MeasuredSystem } from './system.js';

/** Why a run was made: a fixed rate, a step of the search, or the overload test. */
export type Phase = 'fixed' | 'search' | 'overload';

/** The figures of one measured run (one system, one offered rate). */
export interface RunResult {
  /** The measured system's label: `datasync/<transport>` or `baseline`. */
  readonly system: string;
  /** The broker the events travelled through. */
  readonly transport: TransportName;
  readonly phase: Phase;
  readonly runTag: string;
  /** Events/s the schedule offered. */
  readonly offeredRate: number;
  /** Length of the offered-load window, s. */
  readonly durationS: number;
  /** Events the schedule contained, warm-up included; `sent` of them committed in the owner, `sendFailures` did not. */
  readonly scheduled: number;
  readonly sent: number;
  readonly sendFailures: number;
  /** Due sends the producer dropped unsent at the drain deadline (the owner could not keep up). */
  readonly abandoned: number;
  /** The first owner-transaction error, when any send failed. */
  readonly firstSendError?: string;
  /** Consumer commits inside the window, per second, and as a share of the offered rate. */
  readonly delivered: { readonly inWindow: number; readonly ratePerS: number; readonly ratioToOffered: number };
  /** Intended send time → consumer commit, for every applied event intended inside the window (warm-up excluded). */
  readonly latencyMs: LatencySummary;
  /** Intended send time → owner commit (producer side only), for every sent event intended inside the window. */
  readonly ownerCommitLatencyMs: LatencySummary;
  /** Largest delay of the producer in starting a send after its intended time (its own event-loop lag). */
  readonly maxDispatchLagMs: number;
  /** Distinct events applied by the consumer after the drain period. */
  readonly applied: number;
  /**
   * `sent − applied` once the pipeline drained or stalled (nothing applied for 10 s);
   * must be 0. `null` when the drain timed out while events were still being applied.
   */
  readonly lost: number | null;
  /** `sent − applied` when the drain timed out with the consumer still making progress; else 0. */
  readonly pending: number;
  /** Events committed more than once by the consumer. */
  readonly duplicates: number;
  /** How the drain ended: every sent event applied, no progress for 10 s, or the drain timeout. */
  readonly drain: Drain;
  /** Time from the window's end until the drain ended. */
  readonly drainMs: number;
  /** Delivered ≥ 95% of offered, p95 below the limit, nothing lost, abandoned or failed. */
  readonly sustained: boolean;
  /** Seconds spent waiting for an idle machine before the run (`--wait-idle`). */
  readonly waitedForIdleS?: number;
  /** % of one core over the window: producer processes (together), relay, consumer, the postgres server and the run's broker, the machine. */
  readonly cpu: CpuReport;
  readonly error?: string;
}

/** How a run's drain ended; `failed` when the run itself failed. */
export type Drain = 'drained' | 'stalled' | 'timed_out' | 'failed';

/** Nothing applied for this long while events are missing: the pipeline stalled, they count as lost. */
const STALL_MS = 10_000;
/** Longest drain of a search step or the overload run, s. */
const SHORT_DRAIN_S = 20;
/** After the producers finished, the consumer gets at least this long to catch up. */
const CATCH_UP_GRACE_MS = 5_000;

/** What to run. */
export interface RunSpec {
  readonly system: MeasuredSystem;
  readonly phase: Phase;
  readonly rate: number;
  readonly durationS: number;
}

/** Where a run is, for a progress line on stderr (`onProgress` of {@link measureRun}). */
export interface RunProgress {
  /** Before the schedule starts, during the warm-up, in the measured window, or draining after it. */
  readonly stage: 'setting up' | 'warming up' | 'measuring' | 'draining';
  /** Seconds since the schedule started (0 while setting up), and the schedule's length: warm-up + window. */
  readonly elapsedS: number;
  readonly scheduleS: number;
  /** Events committed by the owner (all producer processes) and applied by the consumer so far. */
  readonly sent: number;
  readonly applied: number;
}

/** How often {@link measureRun} reports {@link RunProgress}. */
const PROGRESS_EVERY_MS = 250;

let interrupted = false;
let runCounter = 0;
const runBase = `dsb${Date.now().toString(36)}`;
const cleanups = new Set<() => Promise<void>>();

/** Runs every pending teardown and refuses further runs (used when the bench is interrupted). */
export async function runPendingCleanups(): Promise<void> {
  interrupted = true;
  await Promise.allSettled([...cleanups].map((cleanup) => withTimeout(cleanup(), 10_000, 'cleanup')));
}

/** The fresh schemas, topic and connection name of one run over `transport`. */
export function newContext(config: BenchConfig, transport: TransportName): BenchContext {
  const runTag = `${runBase}${(++runCounter).toString(36)}`;
  return {
    runTag,
    postgresUrl: config.postgresUrl,
    redisUrl: config.redisUrl,
    natsUrl: config.natsUrl,
    amqpUrl: config.amqpUrl,
    transport,
    ownerSchema: `${runTag}_owner`,
    readerSchema: `${runTag}_reader`,
    topic: `${runTag}.product.updated`,
    applicationName: runTag,
    options: { datasyncConcurrency: config.datasyncConcurrency, datasyncNotify: config.datasyncNotify, datasyncRelayPollMs: config.datasyncRelayPollMs },
  };
}

/**
 * One measured run, from a clean state to a clean state: set up fresh schemas and
 * streams, start consumer, relay and producer processes, offer `rate` events/s for
 * `durationS`, wait until every sent event is applied (bounded by the drain timeout),
 * collect the consumer's samples, stop the processes, drop the state. Each step has
 * a hard time limit; a failure is reported in `error` instead of thrown.
 */
export async function measureRun(spec: RunSpec, config: BenchConfig, onProgress?: (progress: RunProgress) => void): Promise<RunResult> {
  const waitedForIdleS = config.waitIdlePct === undefined ? undefined : await waitForIdleMachine(config.waitIdlePct, 300_000);
  const ctx = newContext(config, spec.system.transport);
  const { label } = spec.system;
  const durationMs = spec.durationS * 1000;
  // a search step or the overload run only needs to know it failed; its backlog is not worth a long wait
  const drainTimeoutMs = (spec.phase === 'fixed' ? config.drainTimeoutS : Math.min(config.drainTimeoutS, SHORT_DRAIN_S)) * 1000;
  if (interrupted) return failedRun(spec, ctx, new Error('interrupted'));
  const system = await loadSystem(spec.system.system).catch((error: Error) => error);
  if (system instanceof Error) return failedRun(spec, ctx, system);
  const teardown = (): Promise<void> => system.teardown(ctx);
  cleanups.add(teardown);
  const children: BenchChild[] = [];
  let progressTimer: NodeJS.Timeout | undefined;
  try {
    await withTimeout(system.setup(ctx), 60_000, `${label} setup`);
    const consumer = new BenchChild('consumer');
    const relay = new BenchChild('relay');
    const producers = Array.from({ length: config.producerProcesses }, () => new BenchChild('producer'));
    children.push(consumer, relay, ...producers);
    const failed = new Promise<never>((_, reject) => children.forEach((c) => c.onFailure(reject)));
    failed.catch(() => undefined);
    const guard = <T>(promise: Promise<T>): Promise<T> => Promise.race([promise, failed]);

    // Consumer, then relay, then producers, each once the one before is ready. Over RabbitMQ,
    // which drops what no queue is bound to take, the consumer is ready only once its queue
    // exists and is consumed (`untilGroupSubscribed`), so no event is published before it.
    consumer.send({ type: 'init', system: spec.system.system, ctx });
    await guard(consumer.waitFor('ready', 60_000));
    relay.send({ type: 'init', system: spec.system.system, ctx });
    await guard(relay.waitFor('ready', 60_000));
    const connections = Math.max(1, Math.ceil(config.producerConnections / producers.length));
    // listen before sending: a fast producer may answer while another is still awaited
    const readies = Promise.all(producers.map((producer) => producer.waitFor('ready', 60_000)));
    producers.forEach((producer, shardIndex) =>
      producer.send({ type: 'init', system: spec.system.system, ctx, connections, products: config.products, shardIndex, shardCount: producers.length }),
    );
    for (const ready of await guard(readies)) {
      if (ready.synchronousCommit !== 'on') throw new Error(`synchronous_commit is ${ready.synchronousCommit} on the producer's connections; the bench requires on`);
    }

    let applied = 0;
    consumer.on('consumer-progress', (m) => (applied = m.applied));
    const sentBy = new Map<BenchChild, number>();
    for (const producer of producers) producer.on('producer-progress', (m) => sentBy.set(producer, m.sent));

    // the schedule starts with a warm-up at the same rate (JIT, connection caches);
    // the measured window is what follows it
    const warmupMs = config.warmupS * 1000;
    const scheduleStartMs = benchNowMs() + 300;
    const startAtMs = scheduleStartMs + warmupMs;
    const endAtMs = startAtMs + durationMs;
    const doneLimitMs = warmupMs + durationMs + drainTimeoutMs + 30_000;
    const done = Promise.all(producers.map((p) => p.waitFor('producer-done', doneLimitMs)));
    done.catch(() => undefined);
    for (const producer of producers) {
      producer.send({ type: 'start', rate: spec.rate, durationMs: warmupMs + durationMs, startAtMs: scheduleStartMs, measureFromMs: startAtMs });
    }
    if (onProgress) {
      const scheduleS = (warmupMs + durationMs) / 1000;
      progressTimer = setInterval(() => {
        const now = benchNowMs();
        const stage = now < scheduleStartMs ? 'setting up' : now < startAtMs ? 'warming up' : now < endAtMs ? 'measuring' : 'draining';
        const sent = [...sentBy.values()].reduce((sum, n) => sum + n, 0);
        onProgress({ stage, elapsedS: Math.min(scheduleS, Math.max(0, (now - scheduleStartMs) / 1000)), scheduleS, sent, applied });
      }, PROGRESS_EVERY_MS);
      progressTimer.unref();
    }
    const pids = { producer: producers.map((p) => p.pid), relay: [relay.pid], consumer: [consumer.pid] };
    await guard(sleep(startAtMs - benchNowMs()));
    const servers = serversOf(ctx);
    const cpuStart: CpuSnapshot = takeCpuSnapshot(pids, servers);
    await guard(sleep(endAtMs - benchNowMs()));
    const cpuEnd: CpuSnapshot = takeCpuSnapshot(pids, servers);

    // Drain: the producers end their schedule (told to drop what is still queued at the
    // deadline), then the consumer catches up with what was sent, unless it stalls.
    const deadlineMs = endAtMs + drainTimeoutMs;
    const finishTimer = setTimeout(() => producers.forEach((p) => p.send({ type: 'finish' })), Math.max(0, deadlineMs - benchNowMs()));
    const producerDone = mergeProducers(await guard(done).finally(() => clearTimeout(finishTimer)));
    const catchUpUntilMs = Math.max(deadlineMs, benchNowMs() + CATCH_UP_GRACE_MS);
    let drain: Drain = 'drained';
    let lastApplied = applied;
    let lastChangeMs = benchNowMs();
    while (applied < producerDone.sent) {
      const now = benchNowMs();
      if (applied !== lastApplied) [lastApplied, lastChangeMs] = [applied, now];
      if (now - lastChangeMs > STALL_MS) {
        drain = 'stalled';
        break;
      }
      if (now > catchUpUntilMs) {
        drain = 'timed_out';
        break;
      }
      await guard(sleep(50));
    }
    const drainMs = Math.max(0, benchNowMs() - endAtMs);
    const samplesPromise = consumer.waitFor('consumer-samples', 30_000);
    consumer.send({ type: 'collect' });
    const samples: ConsumerSamples = await guard(samplesPromise);
    const result = summarizeRun(spec, ctx, config, producerDone, samples, { startAtMs, endAtMs }, { drain, drainMs }, cpuBetween(cpuStart, cpuEnd));
    return waitedForIdleS === undefined ? result : { ...result, waitedForIdleS };
  } catch (error) {
    return failedRun(spec, ctx, error as Error);
  } finally {
    clearInterval(progressTimer);
    await Promise.all(children.map((c) => c.stop()));
    await withTimeout(teardown(), 30_000, `${label} teardown`).catch((error: Error) => console.error(`[bench] teardown of ${ctx.runTag} failed: ${error.message}`));
    cleanups.delete(teardown);
  }
}

function summarizeRun(
  spec: RunSpec,
  ctx: BenchContext,
  config: BenchConfig,
  producer: ProducerDone,
  samples: ConsumerSamples,
  { startAtMs, endAtMs }: { startAtMs: number; endAtMs: number },
  { drain, drainMs }: { drain: Drain; drainMs: number },
  cpu: CpuReport,
): RunResult {
  const n = samples.committedAtMs.length;
  const latencies = new SampleBuffer();
  let inWindow = 0;
  for (let i = 0; i < n; i++) {
    const committedAt = samples.committedAtMs[i]!;
    const intendedAt = samples.intendedAtMs[i]!;
    if (intendedAt >= startAtMs) latencies.push(committedAt - intendedAt);
    if (committedAt >= startAtMs && committedAt <= endAtMs) inWindow++;
  }
  const latencyMs = summarize(latencies.toArray());
  const ratePerS = inWindow / spec.durationS;
  const ratioToOffered = ratePerS / spec.rate;
  const missing = producer.sent - samples.applied;
  const lost = drain === 'timed_out' ? null : missing;
  return {
    ...runIdentity(spec, ctx),
    scheduled: producer.scheduled,
    sent: producer.sent,
    sendFailures: producer.failed,
    abandoned: producer.abandoned,
    ...(producer.firstError ? { firstSendError: producer.firstError } : {}),
    delivered: { inWindow, ratePerS: Math.round(ratePerS), ratioToOffered: round(ratioToOffered, 3) },
    latencyMs,
    ownerCommitLatencyMs: summarize(producer.commitLatencies),
    maxDispatchLagMs: producer.maxDispatchLagMs,
    applied: samples.applied,
    lost,
    pending: drain === 'timed_out' ? missing : 0,
    duplicates: samples.duplicates,
    drain,
    drainMs: Math.round(drainMs),
    sustained: lost === 0 && producer.failed === 0 && producer.abandoned === 0 && ratioToOffered >= config.minDeliveredRatio && latencyMs.p95 !== null && latencyMs.p95 < config.p95LimitMs,
    cpu,
  };
}

/** The producer processes' reports as one. */
function mergeProducers(reports: readonly ProducerDone[]): ProducerDone {
  const latencies = new Float64Array(reports.reduce((n, r) => n + r.commitLatencies.length, 0));
  let offset = 0;
  for (const r of reports) {
    latencies.set(r.commitLatencies, offset);
    offset += r.commitLatencies.length;
  }
  return {
    type: 'producer-done',
    scheduled: reports.reduce((n, r) => n + r.scheduled, 0),
    sent: reports.reduce((n, r) => n + r.sent, 0),
    failed: reports.reduce((n, r) => n + r.failed, 0),
    abandoned: reports.reduce((n, r) => n + r.abandoned, 0),
    firstError: reports.find((r) => r.firstError)?.firstError,
    commitLatencies: latencies,
    maxDispatchLagMs: Math.max(...reports.map((r) => r.maxDispatchLagMs)),
  };
}

/** What every result says about the run it comes from. */
function runIdentity(spec: RunSpec, ctx: BenchContext): Pick<RunResult, 'system' | 'transport' | 'phase' | 'runTag' | 'offeredRate' | 'durationS'> {
  return { system: spec.system.label, transport: spec.system.transport, phase: spec.phase, runTag: ctx.runTag, offeredRate: spec.rate, durationS: spec.durationS };
}

/** The servers whose CPU a run reports: PostgreSQL, and the run's broker unless that is PostgreSQL itself. */
function serversOf(ctx: BenchContext): ServerName[] {
  switch (ctx.transport) {
    case 'redis-streams':
      return ['postgres', 'redis'];
    case 'nats-jetstream':
      return ['postgres', 'nats'];
    case 'rabbitmq':
      return ['postgres', 'rabbitmq'];
    case 'postgres':
      return ['postgres'];
  }
}

function failedRun(spec: RunSpec, ctx: BenchContext, error: Error): RunResult {
  const none = summarize(new Float64Array(0));
  return {
    ...runIdentity(spec, ctx),
    scheduled: 0,
    sent: 0,
    sendFailures: 0,
    abandoned: 0,
    delivered: { inWindow: 0, ratePerS: 0, ratioToOffered: 0 },
    latencyMs: none,
    ownerCommitLatencyMs: none,
    maxDispatchLagMs: 0,
    applied: 0,
    lost: null,
    pending: 0,
    duplicates: 0,
    drain: 'failed',
    drainMs: 0,
    sustained: false,
    cpu: {},
    error: error.message,
  };
}
