import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type pg from 'pg';
import { startAdminServer, DEFAULT_ADMIN_PORT, type AdminServer, type AdminTopology, type ParticipationRunner } from '../admin/index.js';
import { urlSources } from '../observability/snapshot.js';
import { openPostgres } from '../postgres/pool.js';
import type { SqlExecutor } from '../postgres/sql.js';
import { connectTransport } from '../transports/connect.js';
import type { Transport } from '../transports/transport.js';
import { redactUrl, resolveTransportSpec } from './connections.js';
import { readInstances, type PlatformInstance } from './instances.js';
import { loadProjectModule } from './load-module.js';
import { Output, type CliIo } from './output.js';
import { DEFAULT_PLATFORM_DIR, auditDatabaseUrl } from './platform.js';

/**
 * `datasync dashboard`: the built-in dashboard and admin API (src/admin) for a platform that
 * runs elsewhere, as one process or many. It reads the metrics of every process registered in
 * `platform.instances` (fresh heartbeats) and merges them, lists and replays dead letters in
 * the services' schemas, and runs the participation probes of `datasync audit`.
 */

interface DashboardOptions {
  database?: string;
  port: number;
  transport?: string;
  platform: string;
}

/** What the dashboard uses of the platform folder (platform/host/dashboard.ts). */
interface PlatformDashboard {
  platformTopology(running: (service: string) => boolean): AdminTopology;
  platformSchemas(): string[];
  participationRunner(options: { db: SqlExecutor; databaseUrl: string; transportSpec?: string }): ParticipationRunner;
}

/** How long a reading of `platform.instances` is reused (the dashboard reads metrics every second). */
const INSTANCES_TTL_MS = 2_000;

/** Parses `--port`: an integer 0–65535. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || port > 65_535) throw new InvalidArgumentError('Expected a port number 0–65535 (0 picks a free port).');
  return port;
}

/** Adds `datasync dashboard`. */
export function addDashboardCommand(program: Command, io: CliIo): void {
  const command = program
    .command('dashboard')
    .description('serve the dashboard and admin API for a running platform: live sync metrics of every process, dead letters to replay or discard, the participation table')
    .option('--database <url>', "the platform's PostgreSQL URL (default: $DATABASE_URL, else the embedded one a running npm start wrote to .datasync/platform.json)")
    .option('--port <n>', `port on 127.0.0.1; 0 picks a free one (default: ${DEFAULT_ADMIN_PORT})`, parsePort, DEFAULT_ADMIN_PORT)
    .option('--transport <spec>', 'where replays publish (default: what the running services registered, else $DATASYNC_TRANSPORT, else postgres)')
    .option('--platform <dir>', 'the platform folder: its topology, and the probes of the participation table', DEFAULT_PLATFORM_DIR);
  command.addHelpText('after', `
Metrics come from GET <url>/platform/metrics.json of every process registered in
platform.instances with a heartbeat in the last 15 s (counters summed, backlog gauges
once). Replays and discards ask for confirmation and are recorded in the service schema's
audit_log as dashboard@<address>. Runs until Ctrl-C.

Examples:
  datasync dashboard
  datasync dashboard --database postgres://postgres@127.0.0.1:5432/shop --port 0`);
  command.action(async (options: DashboardOptions) => {
    const output = new Output(io, {});
    const databaseUrl = auditDatabaseUrl(options.database, io.env);
    if (options.transport !== undefined) resolveTransportSpec(options.transport, io.env);
    const platform = await loadPlatform(options.platform, command.getOptionValueSource('platform') === 'default');
    let pool: pg.Pool | undefined;
    let transport: Transport | undefined;
    let server: AdminServer | undefined;
    try {
      pool = await openPostgres(databaseUrl, { max: 6, connectionTimeoutMillis: 5_000 });
      const db = pool;
      let cached: { at: number; instances: Promise<PlatformInstance[]> } | undefined;
      const instances = (): Promise<PlatformInstance[]> => {
        if (!cached || Date.now() - cached.at >= INSTANCES_TTL_MS) cached = { at: Date.now(), instances: readInstances(db) };
        return cached.instances;
      };
      const registered = await instances();
      if (registered.length === 0) output.note(`datasync dashboard: no running platform process is registered in platform.instances on ${redactUrl(databaseUrl)}; its figures appear once one starts`);
      const transportSpec = options.transport ?? registered[0]?.transport ?? resolveTransportSpec(undefined, io.env);
      transport = await connectTransport(transportSpec, { databaseUrl });
      const runningServices = async () => new Set((await instances()).map((instance) => instance.service));
      server = await startAdminServer({
        port: options.port, portSetting: '--port', pool, publisher: transport.publisher,
        sources: async () => urlSources((await instances()).map((instance) => instance.url)),
        topology: async () => {
          const running = await runningServices();
          return platform ? platform.platformTopology((service) => running.has(service)) : { services: [...running].map((name) => ({ name, running: true })), topics: [] };
        },
        schemas: platform ? platform.platformSchemas() : async () => [...(await runningServices())],
        participation: platform?.participationRunner({ db, databaseUrl, transportSpec: options.transport }),
        onError: (error, where) => output.note(`datasync dashboard: ${where}: ${error instanceof Error ? error.message : String(error)}`),
      });
      const processes = new Set(registered.map((instance) => instance.url)).size;
      output.line(`datasync dashboard: ${server.url}`);
      output.note(`  metrics of ${processes} process${processes === 1 ? '' : 'es'} (${registered.length} service${registered.length === 1 ? '' : 's'}) registered on ${redactUrl(databaseUrl)}; replays publish over ${transportSpec.split('://')[0]}; Ctrl-C stops it`);
      await untilAborted(io.signal);
    } finally {
      await server?.close().catch(() => undefined);
      await transport?.close().catch(() => undefined);
      await pool?.end().catch(() => undefined);
    }
  });
}

/** The platform folder's dashboard module; none when the default folder is not there (a plain datasync deployment). */
async function loadPlatform(dir: string, isDefault: boolean): Promise<PlatformDashboard | undefined> {
  const file = path.join(dir, 'host', 'dashboard.ts');
  if (isDefault && !existsSync(file)) return undefined;
  return await loadProjectModule(file, '--platform', 'the folder of the reference platform (with host/dashboard.ts)') as unknown as PlatformDashboard;
}

/** Resolves when `signal` aborts (Ctrl-C); never without one. */
function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
}
