/**
 * Running the platform: `npm start` (platform/main.ts) and `datasync start` both come here.
 * With no database given it runs on the embedded PostgreSQL (data in `.datasync/`), over the
 * transport given (default `postgres`), with the in-process cache unless `REDIS_URL` is set;
 * all services in one process unless `--service` names some. It prints the URLs, then a live
 * line of sync latency and counts. SIGINT or SIGTERM stops the workload, lets the copies
 * catch up (up to 10 s), stops the services, the transport and PostgreSQL, and resolves 0.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startAdminServer, type AdminServer } from 'datasync/admin';
import { createCacheProvider, type CacheProvider } from 'datasync/cache';
import { ConfigurationError } from 'datasync/core';
import { startTracing, tracingFromEnv, type TracingHandle } from 'datasync/observability';
import { openPostgres, resolveDatabase, type ResolvedDatabase } from 'datasync/postgres';
import type { Transport } from 'datasync';
import type pg from 'pg';
import { connectTransport, parseTransportSpec } from 'datasync/transports';
import { findModule, platformModules } from '../services/index.js';
import { DEFAULT_ADMIN_PORT, participationRunner, platformTopology } from './dashboard.js';
import { SyncMeter, readBacklog, progressLine, waitUntilCaughtUp } from './progress.js';
import { startPlatform, type RunningPlatform } from './run.js';
import { startWorkload, type Workload } from './workload.js';

/** What to run. */
export interface StartOptions {
  /** PostgreSQL URL; default `DATABASE_URL`, else the embedded PostgreSQL. */
  readonly database?: string;
  /** Transport spec; default `DATASYNC_TRANSPORT`, else `postgres`. */
  readonly transport?: string;
  /** Services to run here; default all. */
  readonly services?: readonly string[];
  /** HTTP port; 0 = a free one. */
  readonly port: number;
  /**
   * The dashboard's port (0 = a free one), or false for none. Default: when every service runs
   * here, 4400 (a free one when `port` is 0); with `services`, none.
   */
  readonly adminPort?: number | false;
  /**
   * Workload requests a second; 0 = none. Default `DATASYNC_DEMO_RATE`, else 20 when every
   * service runs here and none when `services` names some (a process of a few services would
   * send most of its requests to other processes).
   */
  readonly rate?: number;
  /** Products the workload's catalog hovers around; default `DATASYNC_DEMO_PRODUCTS`, else 50. */
  readonly products?: number;
  /** Seconds between progress lines; default `DATASYNC_PROGRESS_SECONDS`, else 5. */
  readonly progressSeconds?: number;
  /** `REDIS_URL`: caches in Redis instead of in-process. */
  readonly redisUrl?: string;
  /** Lines for the user (stdout) and for problems (stderr). */
  readonly say: (line: string) => void;
  readonly complain: (line: string) => void;
}

/** Workload requests a second when all services run in one process and no rate is given. */
export const DEFAULT_RATE = 20;

/** How long shutdown waits for the copies to apply what the owners committed. */
const CATCH_UP_MS = 10_000;

/**
 * Where a platform on the embedded PostgreSQL tells `datasync audit` (and other tools) how to
 * reach it: `platform.json` beside the data folder (`.datasync/platform.json` by default).
 */
export function runtimeFile(dataDir: string): string {
  return path.join(path.dirname(dataDir), 'platform.json');
}

/** `dir` relative to the working directory when it is inside it. */
function shortPath(dir: string): string {
  const relative = path.relative(process.cwd(), dir);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : dir;
}

/** Checks `--service` names against the platform's modules; a ConfigurationError lists them otherwise. */
export function selectModules(names: readonly string[] | undefined): typeof platformModules {
  if (!names || names.length === 0) return platformModules;
  return names.map((name) => {
    const module = findModule(name);
    if (!module) throw new ConfigurationError('--service', name, `one of ${platformModules.map((m) => m.name).join(', ')}`);
    return module;
  });
}

/** Runs the platform until SIGINT/SIGTERM; resolves with the exit code. */
export async function runPlatform(options: StartOptions): Promise<number> {
  const { say, complain } = options;
  const stopRequested = new AbortController();
  let firstSignalAt: number | undefined;
  // One Ctrl-C often arrives twice (npm, tsx and node each pass it on), so only a signal a
  // second or more after the first forces the exit.
  const onSignal = (signal: NodeJS.Signals): void => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      say(`\ndatasync: ${signal} received, stopping (press Ctrl-C again to force)…`);
      stopRequested.abort();
    } else if (Date.now() - firstSignalAt >= 1_000) {
      complain('datasync: stopping at once');
      process.exit(130); // the embedded PostgreSQL still gets its shutdown signal on exit
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const checkpoint = (): void => { if (stopRequested.signal.aborted) throw new StopRequested(); };

  let database: ResolvedDatabase | undefined;
  let pool: pg.Pool | undefined;
  let transport: Transport | undefined;
  let cache: CacheProvider | undefined;
  let platform: RunningPlatform | undefined;
  let admin: AdminServer | undefined;
  let tracing: TracingHandle | undefined;
  let workload: Workload | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  let runtimeFileWritten: string | undefined;
  const meter = new SyncMeter();
  let exitCode = 0;

  try {
    const modules = selectModules(options.services);
    const transportSpec = options.transport ?? (process.env.DATASYNC_TRANSPORT || 'postgres');
    const transportName = parseTransportSpec(transportSpec).name;
    const redisUrl = options.redisUrl ?? (process.env.REDIS_URL || undefined);
    // spans of every send and process when DATASYNC_TRACING (or OTEL_TRACES_EXPORTER) asks for them
    const traceExporter = tracingFromEnv().exporter;
    tracing = await startTracing({ exporter: traceExporter, serviceName: modules.length === platformModules.length ? 'datasync-platform' : `datasync-${modules.map((m) => m.name).join('+')}` });
    // The platform stops PostgreSQL itself, last, after everything that uses it.
    database = await resolveDatabase({ databaseUrl: options.database, stopOnSignals: false });
    checkpoint();
    pool = await openPostgres(database.url, { max: 20 });
    transport = await connectTransport(transportSpec, { databaseUrl: database.url });
    cache = createCacheProvider({ redisUrl });
    const all = modules.length === platformModules.length;
    // the dashboard first: a port already taken fails the start at once, not after the migrations
    const adminPort = options.adminPort ?? (all ? (options.port === 0 ? 0 : DEFAULT_ADMIN_PORT) : false);
    if (adminPort !== false) {
      admin = await startAdminServer({
        port: adminPort, pool, publisher: transport.publisher,
        topology: () => platformTopology((service) => platform?.services.has(service) ?? false),
        schemas: modules.map((module) => module.name),
        participation: participationRunner({ db: pool, databaseUrl: database.url, transportSpec }),
        onError: (error, where) => complain(`datasync: dashboard: ${where}: ${error instanceof Error ? error.message : String(error)}`),
      });
    }
    checkpoint();
    platform = await startPlatform({
      modules, pool, databaseUrl: database.url, transport, transportName: transportSpec, cache, port: options.port,
      hooks: (service) => ({ onSettled: (info) => meter.record(service, info) }),
      onError: (error, where) => complain(`datasync: ${where}: ${error instanceof Error ? error.message : String(error)}`),
    });
    checkpoint();
    if (database.embedded) {
      const file = runtimeFile(database.embedded.dataDir);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, `${JSON.stringify({ databaseUrl: database.url, httpUrl: platform.url, ...(admin ? { adminUrl: admin.url } : {}), transport: transportSpec, pid: process.pid }, null, 2)}\n`);
      runtimeFileWritten = file;
    }
    const envRate = process.env.DATASYNC_DEMO_RATE ? parsePositiveNumber('DATASYNC_DEMO_RATE', process.env.DATASYNC_DEMO_RATE) : undefined;
    const rate = options.rate ?? envRate ?? (all ? DEFAULT_RATE : 0);
    const products = options.products ?? (process.env.DATASYNC_DEMO_PRODUCTS ? Math.max(1, Math.round(parsePositiveNumber('DATASYNC_DEMO_PRODUCTS', process.env.DATASYNC_DEMO_PRODUCTS))) : undefined);
    const progressSeconds = options.progressSeconds ?? parsePositiveNumber('DATASYNC_PROGRESS_SECONDS', process.env.DATASYNC_PROGRESS_SECONDS || '5');
    if (rate > 0) workload = startWorkload({ directory: platform.directory, rate, products, onError: (error) => complain(`datasync: workload: ${(error as Error).message}`) });

    const embedded = database.embedded;
    const url = embedded ? `'${database.url}'` : '"$DATABASE_URL"';
    say('');
    say(`datasync: ${all ? `the platform's ${modules.length} services` : modules.map((m) => m.name).join(', ')} running${workload ? `, with a workload of ${rate} changes a second (products, prices, stock, orders)` : ''}.`);
    say(`  http api      ${platform.url}  (GET ${platform.url}/platform/services lists the services and their routes)`);
    if (admin) say(`  dashboard     ${admin.url}  (live sync metrics, dead letters to replay or discard; GET ${admin.url}/metrics for Prometheus)`);
    say(`  try           curl -X POST ${platform.url}/catalog/products -d '{"sku":"KET-1","name":"Kettle"}'; curl '${platform.url}/search?q=kettle'; curl ${platform.url}/products/<id>`);
    say(`  database      ${embedded ? `${database.url}  (embedded PostgreSQL, data in ${shortPath(embedded.dataDir)})` : 'DATABASE_URL'}`);
    say(`  transport     ${transportName}${options.transport || process.env.DATASYNC_TRANSPORT ? '' : ' (the default; --transport redis://… for Redis Streams)'}`);
    if (traceExporter !== 'none') say(`  tracing       OpenTelemetry spans to ${traceExporter === 'otlp' ? `OTLP (${process.env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318'})` : 'the console'}`);
    say(`  cache         ${cache.kind === 'redis' ? 'Redis (REDIS_URL), one DB and key prefix per service' : 'in-process LRU (set REDIS_URL for Redis)'}`);
    say(`  audit         npm run datasync -- audit${embedded ? '' : ` --database ${url}`}`);
    say(`  dead letters  npm run datasync -- dlq list --schema search --database ${url}`);
    say('  stop          Ctrl-C (the data stays for the next start)');
    say('');

    const report = async (): Promise<void> => {
      say(progressLine({ ...meter.take(), ...(await readBacklog(pool!, modules)), workload: workload?.stats() }));
    };
    let reporting = false;
    progressTimer = setInterval(() => {
      if (reporting) return;
      reporting = true;
      report().catch((error: unknown) => complain(`datasync: progress: ${(error as Error).message}`)).finally(() => { reporting = false; });
    }, progressSeconds * 1_000);

    if (!stopRequested.signal.aborted) await new Promise((resolve) => stopRequested.signal.addEventListener('abort', resolve, { once: true }));
    clearInterval(progressTimer);
    await step('stop the workload', () => workload?.stop());
    if (all) {
      await step('let the copies catch up', async () => {
        const { outboxPending, behind } = await waitUntilCaughtUp(pool!, modules, CATCH_UP_MS);
        await report();
        say(outboxPending === 0 && behind === 0
          ? 'datasync: every outbox is published and Search has caught up with Catalog'
          : `datasync: after ${CATCH_UP_MS / 1_000} s, ${outboxPending} events are still in outboxes and ${behind} products not current in Search; they follow on the next start`);
      });
    }
  } catch (error) {
    if (stopRequested.signal.aborted) {
      if (!(error instanceof StopRequested)) say(`datasync: start-up interrupted: ${(error as Error).message}`);
    } else {
      complain(`datasync: ${error instanceof Error ? error.message : String(error)}`);
      exitCode = 1;
    }
  }

  /** Runs one shutdown step; a failure is reported and makes the exit code 1, and the next steps still run. */
  async function step(what: string, run: () => Promise<unknown> | undefined): Promise<void> {
    try {
      await run();
    } catch (error) {
      complain(`datasync: could not ${what}: ${(error as Error).message}`);
      exitCode = 1;
    }
  }

  clearInterval(progressTimer);
  await step('stop the workload', () => workload?.stop());
  await step('stop the dashboard', () => admin?.close());
  await step('stop the services', () => platform?.stop());
  await step('close the transport', () => transport?.close());
  await step('close the caches', () => cache?.close());
  await step('close the database pool', () => pool?.end());
  await step('stop PostgreSQL', () => database?.stop());
  await step('flush the traces', () => tracing?.shutdown());
  if (runtimeFileWritten) rmSync(runtimeFileWritten, { force: true });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  say('datasync: stopped');
  return exitCode;
}

class StopRequested extends Error {}

/** `raw` as a positive number; a ConfigurationError naming `source` otherwise. */
export function parsePositiveNumber(source: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0) throw new ConfigurationError(source, raw, 'a positive number');
  return value;
}
