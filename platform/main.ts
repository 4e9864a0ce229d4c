/**
 * `npm start`: the reference platform on one machine (DESIGN.md section 4). For now four
 * services: Catalog keeps changing products and publishes each change through its outbox;
 * Search keeps a read model of them; Pricing and Warehouse change prices and stock through
 * the HTTP API and publish each change through their own outboxes and relays. With no
 * `DATABASE_URL` it runs on the embedded PostgreSQL (data in `.datasync/`), over the
 * transport `DATASYNC_TRANSPORT` names (default
 * `postgres`). Ctrl-C (SIGINT) or SIGTERM stops the services, the transport, then
 * PostgreSQL, and exits 0. The HTTP API (platform/http/) listens on `DATASYNC_HTTP_PORT` or
 * `--port` (default 4300; 0 = a free port). `--no-workload` leaves out Catalog's demo changes,
 * so products change only through the API. See platform/README.md.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Transport } from 'datasync';
import { ConfigurationError } from 'datasync/core';
import { migrate, openPostgres, resolveDatabase, type ResolvedDatabase } from 'datasync/postgres';
import type { Consumer } from 'datasync/runtime';
import type pg from 'pg';
import { connectTransport, parseTransportSpec } from 'datasync/transports';
import { createApp, resolveHttpPort, startHttpServer, type HttpServer } from './http/server.js';
import { median, progressLine, readBacklog, waitUntilCaughtUp } from './progress.js';
import { catalog, startCatalog, type RunningCatalog } from './services/catalog/index.js';
import { pricing, startPricing, type RunningPricing } from './services/pricing/index.js';
import { search, startSearch } from './services/search/index.js';
import { startWarehouse, warehouse, type RunningWarehouse } from './services/warehouse/index.js';

const say = (line = ''): void => void process.stdout.write(`${line}\n`);
const complain = (line: string): void => void process.stderr.write(`${line}\n`);

/** How long shutdown waits for Search to apply what Catalog committed. */
const CATCH_UP_MS = 10_000;

/** `dir` relative to the working directory when it is inside it. */
function shortPath(dir: string): string {
  const relative = path.relative(process.cwd(), dir);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : dir;
}

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigurationError(name, raw, 'a positive number');
  return value;
}

// Signals only request the stop; the shutdown below closes things in order. One Ctrl-C often
// arrives twice (the terminal signals npm, tsx and node, and npm and tsx pass it on too), so
// only a signal a second or more after the first forces the exit.
const stopRequested = new AbortController();
class StopRequested extends Error {}
let firstSignalAt: number | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      say(`\ndatasync demo: ${signal} received, stopping (press Ctrl-C again to force)…`);
      stopRequested.abort();
    } else if (Date.now() - firstSignalAt >= 1_000) {
      complain('datasync demo: stopping at once');
      process.exit(130); // the embedded PostgreSQL still gets its shutdown signal on exit
    }
  });
}
function checkpoint(): void {
  if (stopRequested.signal.aborted) throw new StopRequested();
}

let database: ResolvedDatabase | undefined;
let pool: pg.Pool | undefined;
let transport: Transport | undefined;
let searchConsumer: Consumer | undefined;
let catalogService: RunningCatalog | undefined;
let pricingService: RunningPricing | undefined;
let warehouseService: RunningWarehouse | undefined;
let httpServer: HttpServer | undefined;
let progressTimer: NodeJS.Timeout | undefined;
const latencies: number[] = [];
let exitCode = 0;

async function report(): Promise<void> {
  if (!pool || !catalogService || !searchConsumer) return;
  const written = catalogService.stats().written;
  const { published } = catalogService.relay.stats();
  const { applied, stale, dead_lettered: deadLettered } = searchConsumer.stats();
  const backlog = await readBacklog(pool);
  say(progressLine({ written, published, applied, stale, deadLettered, ...backlog, latencyMs: median(latencies.splice(0)) }));
}

try {
  const { values: flags } = parseArgs({ options: { port: { type: 'string' }, 'no-workload': { type: 'boolean' } } });
  const httpPort = resolveHttpPort(flags.port);
  const workload = !flags['no-workload'];
  const transportSpec = process.env.DATASYNC_TRANSPORT || 'postgres';
  const transportName = parseTransportSpec(transportSpec).name;
  const rate = numberFromEnv('DATASYNC_DEMO_RATE', 20);
  const products = Math.round(numberFromEnv('DATASYNC_DEMO_PRODUCTS', 200));
  const progressSeconds = numberFromEnv('DATASYNC_PROGRESS_SECONDS', 5);

  // The demo stops PostgreSQL itself, last, after everything that uses it.
  database = await resolveDatabase({ stopOnSignals: false });
  checkpoint();
  pool = await openPostgres(database.url);
  await migrate(pool, catalog.schema, catalog.migrations);
  await migrate(pool, search.schema, search.migrations);
  await migrate(pool, pricing.schema, pricing.migrations);
  await migrate(pool, warehouse.schema, warehouse.migrations);
  checkpoint();
  transport = await connectTransport(transportSpec, { databaseUrl: database.url });
  checkpoint();
  // Search starts before any relay: startConsumer declares its groups before it resolves, so
  // on RabbitMQ (which keeps nothing for a group before that) no event is published unseen.
  searchConsumer = await startSearch({
    pool,
    transport,
    hooks: {
      onSettled: (info) => { if (info.event) latencies.push(info.committedAtMs - Date.parse(info.event.time)); },
      onError: (error, { topic }) => complain(`datasync demo: search (${topic}): ${(error as Error).message}`),
    },
  });
  checkpoint();
  catalogService = await startCatalog({
    pool, databaseUrl: database.url, publisher: transport.publisher, rate, products, workload,
    onError: (error) => complain(`datasync demo: catalog change failed: ${(error as Error).message}`),
  });
  checkpoint();
  pricingService = await startPricing({ pool, databaseUrl: database.url, publisher: transport.publisher });
  checkpoint();
  warehouseService = await startWarehouse({ pool, databaseUrl: database.url, publisher: transport.publisher });
  checkpoint();
  const app = createApp(
    {
      catalog: { producer: catalogService.producer },
      search: { db: pool },
      pricing: { producer: pricingService.producer },
      warehouse: { producer: warehouseService.producer },
    },
    (error) => complain(`datasync demo: HTTP request failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`),
  );
  httpServer = await startHttpServer(app, { port: httpPort });

  const embedded = database.embedded;
  const url = embedded ? `'${database.url}'` : '"$DATABASE_URL"';
  say();
  say(workload
    ? `datasync demo: Catalog changes ${rate} products a second and publishes each change through its outbox; Search keeps a copy.`
    : 'datasync demo: Catalog changes products only through the HTTP API (--no-workload) and publishes each change through its outbox; Search keeps a copy.');
  say(`  http api      ${httpServer.url}  (curl -X POST ${httpServer.url}/catalog/products -d '{"sku":"KET-1","name":"Kettle"}'; curl '${httpServer.url}/search?q=kettle')`);
  say(`  database      ${embedded ? `${database.url}  (embedded PostgreSQL, data in ${shortPath(embedded.dataDir)})` : 'DATABASE_URL'}`);
  say(`  transport     ${transportName}${process.env.DATASYNC_TRANSPORT ? '' : ' (the default; set DATASYNC_TRANSPORT=redis://… for Redis Streams)'}`);
  say(`  read model    psql ${url} -c "SELECT id, version, deleted, data->>'name' AS name FROM search.products ORDER BY updated_at DESC LIMIT 10"`);
  say(`  outbox        npm run datasync -- outbox status --schema catalog --database ${url}`);
  say(`  dead letters  npm run datasync -- dlq list --schema search --database ${url}`);
  say(`  stop          Ctrl-C (the data stays for the next start)`);
  say();

  let reporting = false;
  progressTimer = setInterval(() => {
    if (reporting) return;
    reporting = true;
    report().catch((error: unknown) => complain(`datasync demo: progress: ${(error as Error).message}`)).finally(() => { reporting = false; });
  }, progressSeconds * 1_000);

  if (!stopRequested.signal.aborted) await new Promise((resolve) => stopRequested.signal.addEventListener('abort', resolve, { once: true }));
} catch (error) {
  if (stopRequested.signal.aborted) {
    // stopped during start-up; a step the signal interrupted (e.g. initdb) may report it
    if (!(error instanceof StopRequested)) say(`datasync demo: start-up interrupted: ${(error as Error).message}`);
  } else {
    complain(`datasync demo: ${error instanceof Error ? error.message : String(error)}`);
    exitCode = 1;
  }
}

/** Runs one shutdown step; a failure is reported and makes the exit code 1, and the next steps still run. */
async function step(what: string, run: () => Promise<unknown> | undefined): Promise<void> {
  try {
    await run();
  } catch (error) {
    complain(`datasync demo: could not ${what}: ${(error as Error).message}`);
    exitCode = 1;
  }
}

clearInterval(progressTimer);
await step('stop the HTTP API', () => httpServer?.close());
if (catalogService && pool) {
  const service = catalogService;
  const db = pool;
  await step('stop changing products', () => service.stopChanges());
  await step('let Search catch up', async () => {
    const { outboxPending, behind } = await waitUntilCaughtUp(db, CATCH_UP_MS);
    await report();
    say(outboxPending === 0 && behind === 0
      ? 'datasync demo: Search has caught up with Catalog'
      : `datasync demo: after ${CATCH_UP_MS / 1_000} s, ${outboxPending} events are still in the outbox and ${behind} products not current in Search; they follow on the next start`);
  });
}
await step('stop Search', () => searchConsumer?.close());
await step("stop Catalog's relay", () => catalogService?.close());
await step("stop Pricing's relay", () => pricingService?.close());
await step("stop Warehouse's relay", () => warehouseService?.close());
await step('close the transport', () => transport?.close());
await step('close the database pool', () => pool?.end());
await step('stop PostgreSQL', () => database?.stop());
say('datasync demo: stopped');
process.exit(exitCode);
