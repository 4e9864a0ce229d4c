/**
 * `npm run bench`: end-to-end latency and throughput of datasync against a naive
 * outbox baseline, both through real PostgreSQL (synchronous_commit on) and Redis
 * Streams on this machine; with `--transport`, datasync also (or instead) over NATS
 * JetStream, RabbitMQ or the PostgreSQL transport, each as its own measured system.
 * See bench/RESULTS.md for what each figure means.
 *
 * Progress goes to stderr: while a run is measured, one updating line on a terminal
 * (a plain line every 10 s otherwise), then one line per measured run; the result JSON
 * goes to stdout and to `--out`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { formatCount, startProgress } from '../src/cli/progress.js';
import type { TransportName } from '../src/transports/connect.js';
import { brokerVersion } from './harness/broker-state.js';
import { killAllChildren, REPO_ROOT } from './harness/children.js';
import { parseBenchArgs, USAGE, type BenchConfig } from './harness/options.js';
import { measureRun, runPendingCleanups, type Phase, type RunResult } from './harness/run.js';
import { measuredSystems, type MeasuredSystem } from './harness/system.js';

/** Everything measured for one system (the key of `results` is its label). */
interface SystemResults {
  system: MeasuredSystem['system'];
  transport: TransportName;
  fixed: RunResult[];
  search: { steps: RunResult[]; sustainedRate: number | null } | null;
  overload: (RunResult & { sustainedRate: number; ratioToSustained: number }) | null;
}

interface Target {
  value: number | null;
  limit: string;
  met: boolean | null;
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function describeRun(r: RunResult): string {
  const head = `${r.system.padEnd(23)} ${r.phase.padEnd(8)} ${String(r.offeredRate).padStart(6)}/s ${r.durationS}s`;
  if (r.error) return `${head}: ERROR ${r.error.split('\n')[0]}`;
  const l = r.latencyMs;
  const cpu = Object.entries(r.cpu)
    .map(([k, v]) => `${k} ${v ?? '-'}`)
    .join(', ');
  return (
    `${head}: delivered ${r.delivered.ratePerS}/s (${Math.round(r.delivered.ratioToOffered * 100)}%), ` +
    `p50 ${l.p50} p95 ${l.p95} p99 ${l.p99} max ${l.max} ms, ` +
    (r.drain === 'timed_out' ? `${r.pending} still pending at the drain timeout, ` : `lost ${r.lost}${r.drain === 'stalled' ? ' (consumer stalled)' : ''}, `) +
    (r.abandoned > 0 ? `${r.abandoned} never sent (owner overloaded), ` : '') +
    `dup ${r.duplicates}, ` +
    `${r.sustained ? 'sustained' : 'NOT sustained'}; cpu % of a core: ${cpu}`
  );
}

/** Not on a terminal, a run's progress line comes every this many ms (runs last tens of seconds). */
const PROGRESS_LOG_INTERVAL_MS = 10_000;

async function run(system: MeasuredSystem, phase: Phase, rate: number, durationS: number, config: BenchConfig): Promise<RunResult> {
  const progress = startProgress({ stderr: process.stderr, env: process.env }, {
    label: `[bench] ${system.label} ${phase} ${rate}/s`, finished: 'measured', unit: ' s', intervalMs: PROGRESS_LOG_INTERVAL_MS,
  });
  const result = await measureRun({ system, phase, rate, durationS }, config, (p) => {
    const counts = p.stage === 'draining' ? `applied ${formatCount(p.applied)}/${formatCount(Math.max(p.sent, p.applied))}` : `sent ${formatCount(p.sent)}  applied ${formatCount(p.applied)}`;
    progress.update(Math.round(p.elapsedS * 10) / 10, p.scheduleS, `${p.stage}  ${counts}`);
  }).finally(() => progress.close());
  log(describeRun(result));
  return result;
}

/** Highest sustained rate: grow ×1.5 from the start rate until a rate fails, then bisect. */
async function searchSustainedRate(system: MeasuredSystem, config: BenchConfig): Promise<{ steps: RunResult[]; sustainedRate: number | null }> {
  const steps: RunResult[] = [];
  const roundRate = (r: number): number => Math.max(100, Math.round(r / 100) * 100);
  let pass: number | null = null;
  let fail: number | null = null;
  for (let rate = config.searchStartRate; rate <= config.searchMaxRate; rate = roundRate(rate * config.searchGrowth)) {
    const result = await run(system, 'search', rate, config.searchStepS, config);
    steps.push(result);
    if (result.error) return { steps, sustainedRate: pass };
    if (result.sustained) pass = rate;
    else {
      fail = rate;
      break;
    }
  }
  if (fail !== null) {
    let lo = pass ?? 0;
    let hi = fail;
    for (let i = 0; i < config.searchBisectSteps; i++) {
      const mid = roundRate((lo + hi) / 2);
      if (mid <= lo || mid >= hi) break;
      const result = await run(system, 'search', mid, config.searchStepS, config);
      steps.push(result);
      if (result.error) break;
      if (result.sustained) lo = mid;
      else hi = mid;
    }
    pass = lo > 0 ? lo : null;
  }
  return { steps, sustainedRate: pass };
}

/** Versions of the servers the run uses; a broker only some transports use is asked at most 5 s and reported as unreachable rather than failing the bench. */
async function serverInfo(config: BenchConfig): Promise<{ postgres: string; synchronousCommit: string; redis: string; nats?: string; rabbitmq?: string }> {
  const db = new pg.Client({ connectionString: config.postgresUrl, application_name: 'dsbench-info' });
  await db.connect();
  let postgres: string;
  let synchronousCommit: string;
  try {
    postgres = String((await db.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version);
    synchronousCommit = String((await db.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]?.synchronous_commit);
  } finally {
    await db.end();
  }
  if (synchronousCommit !== 'on') throw new Error(`synchronous_commit is ${synchronousCommit}; the bench measures durable commits and requires on`);
  const datasyncOver = (transport: TransportName): boolean => config.systems.includes('datasync') && config.transports.includes(transport);
  const versionOf = (transport: TransportName): Promise<string> =>
    brokerVersion(transport, config).catch((error: Error) => `unreachable (${error.message})`);
  // Redis must answer when a system uses it; otherwise its version is only informative
  const redisNeeded = config.systems.includes('baseline') || datasyncOver('redis-streams');
  const redisVersion = redisNeeded ? await redisServerVersion(config.redisUrl) : await redisServerVersion(config.redisUrl).catch((error: Error) => `unreachable (${error.message})`);
  return {
    postgres,
    synchronousCommit,
    redis: redisVersion,
    ...(datasyncOver('nats-jetstream') ? { nats: await versionOf('nats-jetstream') } : {}),
    ...(datasyncOver('rabbitmq') ? { rabbitmq: await versionOf('rabbitmq') } : {}),
  };
}

async function redisServerVersion(url: string): Promise<string> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const info = await redis.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
}

/** The result JSON's label of datasync over Redis Streams, which the issue's targets are about. */
const TARGET_SYSTEM = 'datasync/redis-streams';

/** `text` with the password replaced when it is a URL with one, for the output JSON. */
function withoutPassword(text: string): string {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return text;
  }
  if (parsed.password === '') return text;
  parsed.password = '***';
  return parsed.toString();
}

/** The pipeline issue's targets, for datasync over Redis Streams against the baseline (null where not measured). */
function targets(results: Record<string, SystemResults>, config: BenchConfig): Record<string, Target> {
  const ds = results[TARGET_SYSTEM];
  const bl = results.baseline;
  const at5000 = ds?.fixed.find((r) => r.offeredRate === 5000 && !r.error);
  const check = (value: number | null | undefined, ok: (v: number) => boolean): Pick<Target, 'value' | 'met'> =>
    value === null || value === undefined ? { value: null, met: null } : { value, met: ok(value) };
  const dsRate = ds?.search?.sustainedRate ?? config.sustainedRate ?? null;
  const blRate = bl?.search?.sustainedRate ?? null;
  const ratio = dsRate !== null && blRate !== null && blRate > 0 ? Math.round((dsRate / blRate) * 100) / 100 : null;
  return {
    p95_at_5000_le_10ms: { limit: '<= 10 ms', ...check(at5000?.latencyMs.p95, (v) => v <= 10 && at5000?.drain === 'drained') },
    p99_at_5000_le_20ms: { limit: '<= 20 ms', ...check(at5000?.latencyMs.p99, (v) => v <= 20 && at5000?.drain === 'drained') },
    max_rate_ge_1_5x_baseline: { limit: '>= 1.5 (datasync / baseline sustained rate)', ...check(ratio, (v) => v >= 1.5) },
    overload_ge_90pct: { limit: '>= 0.9 (delivered / sustained)', ...check(ds?.overload?.ratioToSustained, (v) => v >= 0.9) },
  };
}

async function main(): Promise<void> {
  const parsed = parseBenchArgs(process.argv.slice(2));
  if (parsed === 'help') {
    console.log(USAGE);
    return;
  }
  const config = parsed;
  const startedAt = new Date().toISOString();
  const servers = await serverInfo(config);
  const cpus = os.cpus();
  const machine = {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: servers.postgres,
    synchronousCommit: servers.synchronousCommit,
    redis: servers.redis,
    ...(servers.nats === undefined ? {} : { nats: servers.nats }),
    ...(servers.rabbitmq === undefined ? {} : { rabbitmq: servers.rabbitmq }),
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    loadAverageAtEnd: [] as number[],
  };
  const systems = measuredSystems(config.systems, config.transports);
  const brokers = [servers.nats && `NATS ${servers.nats}`, servers.rabbitmq && `RabbitMQ ${servers.rabbitmq}`].filter(Boolean).join(', ');
  log(
    `${systems.map((s) => s.label).join(' + ')} on ${machine.cpus} CPUs, node ${machine.node}, PostgreSQL ${machine.postgres} (synchronous_commit ${machine.synchronousCommit}), ` +
      `Redis ${machine.redis}${brokers ? `, ${brokers}` : ''}; load ${machine.loadAverageAtStart.join(' ')}`,
  );

  const results: Record<string, SystemResults> = {};
  for (const { label, system, transport } of systems) results[label] = { system, transport, fixed: [], search: null, overload: null };
  // fixed rates interleave the systems, so all see the same background load
  for (const rate of config.rates) {
    for (const system of systems) results[system.label]!.fixed.push(await run(system, 'fixed', rate, config.durationS, config));
  }
  for (const system of systems) {
    const own = results[system.label]!;
    if (config.search) own.search = await searchSustainedRate(system, config);
    const sustainedRate = own.search?.sustainedRate ?? config.sustainedRate ?? null;
    if (config.search) log(`${system.label}: highest sustained rate ${sustainedRate ?? 'none found'}${sustainedRate ? '/s' : ''}`);
    if (config.overload && sustainedRate) {
      const rate = Math.round(sustainedRate * config.overloadFactor);
      const result = await run(system, 'overload', rate, config.overloadS, config);
      const ratioToSustained = Math.round((result.delivered.ratePerS / sustainedRate) * 1000) / 1000;
      own.overload = { ...result, sustainedRate, ratioToSustained };
      log(`${system.label}: under ${config.overloadFactor}× overload delivered ${result.delivered.ratePerS}/s = ${Math.round(ratioToSustained * 100)}% of sustained`);
    }
  }
  machine.loadAverageAtEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  if (interrupted) return;

  const output = {
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).map(withoutPassword).join(' ')}`.trim(),
    machine,
    config: { ...config, postgresUrl: withoutPassword(config.postgresUrl), redisUrl: withoutPassword(config.redisUrl), natsUrl: withoutPassword(config.natsUrl), amqpUrl: withoutPassword(config.amqpUrl) },
    results,
    targets: targets(results, config),
  };
  const json = JSON.stringify(output, null, 2);
  const outPath = resolve(REPO_ROOT, config.out);
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, `${json}\n`);
  process.stdout.write(`${json}\n`);
  log(`written to ${config.out}`);
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${signal}: stopping child processes and dropping this run's schemas, streams and queues`);
    killAllChildren();
    void runPendingCleanups().finally(() => process.exit(130));
  });
}
process.on('exit', killAllChildren);

main().catch((error: unknown) => {
  console.error(`[bench] ${error instanceof Error ? error.message : String(error)}`);
  if (error instanceof Error && error.message.startsWith('--')) console.error(USAGE);
  killAllChildren();
  void runPendingCleanups().finally(() => process.exit(1));
});
