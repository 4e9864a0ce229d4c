import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type pg from 'pg';
import { ArgumentError } from '../core/errors.js';
import { openPostgres } from '../postgres/pool.js';
import { redactUrl, resolveDatabaseUrl, resolveTransportSpec, type CliEnv } from './connections.js';
import { CommandFailure } from './failure.js';
import { loadProjectModule } from './load-module.js';
import { addJsonOption, parsePositiveNumber } from './options.js';
import { Output, type CliIo } from './output.js';
import { quietOption, startProgress } from './progress.js';

/**
 * `datasync start` and `datasync audit`: the reference platform (platform/ beside the
 * package, or `--platform <dir>`), loaded at run time like `check` loads contracts, so the
 * library does not depend on it.
 */

/** The default folder of the reference platform. */
export const DEFAULT_PLATFORM_DIR = 'platform';

/** Where a platform on the embedded PostgreSQL writes how to reach it (platform/host/start.ts): beside its data folder. */
function runtimeFile(env: CliEnv): string {
  return path.join(path.dirname(env.DATASYNC_DATA_DIR || path.join('.datasync', 'postgres')), 'platform.json');
}

interface StartOptions {
  platform: string;
  database?: string;
  transport?: string;
  service?: string[];
  port?: string;
  adminPort?: string;
  admin: boolean;
  rate?: number;
  workload: boolean;
}

interface AuditOptions {
  platform: string;
  database?: string;
  transport?: string;
  service?: string[];
  timeout: number;
  json?: boolean;
  quiet?: boolean;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The database of `audit`, `dashboard` and `status`: `--database`, `DATABASE_URL`, the running platform's runtime file, else the default. */
export function auditDatabaseUrl(option: string | undefined, env: CliEnv): string {
  const file = runtimeFile(env);
  if (option !== undefined || env.DATABASE_URL || !existsSync(file)) return resolveDatabaseUrl(option, env);
  try {
    const runtime = JSON.parse(readFileSync(file, 'utf8')) as { databaseUrl?: string };
    return resolveDatabaseUrl(runtime.databaseUrl, env);
  } catch {
    return resolveDatabaseUrl(option, env);
  }
}

const SYMBOLS = { pass: '✅', fail: '❌', na: 'N/A', 'not-running': '⏸' } as const;

/** Adds `datasync start` and `datasync audit`. */
export function addPlatformCommands(program: Command, io: CliIo): void {
  const start = program
    .command('start')
    .description('run the reference commerce platform: every service in this process, or the ones --service names')
    .option('--platform <dir>', 'the platform folder', DEFAULT_PLATFORM_DIR)
    .option('--database <url>', 'PostgreSQL URL (default: $DATABASE_URL, else an embedded PostgreSQL with data in .datasync/)')
    .option('--transport <spec>', 'postgres, or a redis://, nats://, amqp:// URL (default: $DATASYNC_TRANSPORT, else postgres)')
    .option('--service <name>', 'run only this service; repeat for more (the platform as separate processes)', collect)
    .option('--port <n>', 'HTTP API port; 0 picks a free one (default: $DATASYNC_HTTP_PORT, else 4300)')
    .option('--admin-port <n>', 'dashboard and admin API port; 0 picks a free one (default: $DATASYNC_ADMIN_PORT, else 4400; a free one with --port 0; none with --service)')
    .option('--no-admin', 'no dashboard')
    .option('--rate <n>', 'workload requests a second (default 20; with --service none unless given)', parsePositiveNumber)
    .option('--no-workload', 'no workload: data changes only through the API');
  start.addHelpText('after', `
Caches are in-process unless REDIS_URL is set (then Redis, one DB and key prefix per service).
Ctrl-C stops the workload, lets the copies catch up, and stops everything.

Examples:
  datasync start
  datasync start --transport redis://127.0.0.1:6379 --database postgres://postgres@127.0.0.1:5432/shop
  datasync start --service search --port 4301 --no-workload`);
  start.action(async (options: StartOptions) => {
    if (options.transport !== undefined) resolveTransportSpec(options.transport, io.env);
    if (options.database !== undefined) resolveDatabaseUrl(options.database, io.env);
    const loaded = await loadProjectModule(path.join(options.platform, 'host', 'start.ts'), '--platform', 'the folder of the reference platform (with host/start.ts)');
    const { runPlatform } = loaded as { runPlatform: (o: unknown) => Promise<number> };
    const { resolveHttpPort } = await loadProjectModule(path.join(options.platform, 'http', 'server.ts'), '--platform', 'the folder of the reference platform (with http/server.ts)') as { resolveHttpPort: (flag?: string) => number };
    const { resolveAdminPort } = await loadProjectModule(path.join(options.platform, 'host', 'dashboard.ts'), '--platform', 'the folder of the reference platform (with host/dashboard.ts)') as { resolveAdminPort: (flag?: string) => number | undefined };
    const code = await runPlatform({
      database: options.database, transport: options.transport, services: options.service, port: resolveHttpPort(options.port),
      adminPort: options.admin ? resolveAdminPort(options.adminPort) : false,
      rate: options.workload ? options.rate : 0,
      say: (line: string) => io.stdout.write(`${line}\n`), complain: (line: string) => io.stderr.write(`${line}\n`),
    });
    if (code !== 0) throw new CommandFailure('the platform stopped with errors (see above)');
  });

  const audit = program
    .command('audit')
    .description("verify the seed's Service Participation table against the running platform, every cell by a probe")
    .option('--platform <dir>', 'the platform folder', DEFAULT_PLATFORM_DIR)
    .option('--database <url>', "the platform's PostgreSQL URL (default: $DATABASE_URL, else the embedded one a running npm start wrote to .datasync/platform.json)")
    .option('--transport <spec>', 'where to publish probe events (default: what the running services registered)')
    .option('--service <name>', 'audit only this service; repeat for more', collect)
    .option('--timeout <seconds>', 'how long one probe waits for what it expects', (value: string) => {
      const seconds = Number(value);
      if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('Expected a positive number of seconds.');
      return seconds;
    }, 20)
    .addOption(quietOption());
  addJsonOption(audit);
  audit.addHelpText('after', `
Each cell is a probe against the live services: a change through a service's API seen
consumed (producer), an event published and applied (consumer), the same event again and one
effect (idempotency), an event without a required field dead-lettered at once (schema), a
cached read rebuilt after a change elsewhere (cache), a refused event dead-lettered (DLQ).
Probe entities stay (SKUs AUDIT-…); the dead letters the probes cause are discarded.
Progress (cells probed of all, a line per service) goes to stderr; --quiet silences it.

Exit codes: 0 every applicable cell verified, 1 a cell failed or a service is not running.

Examples:
  datasync audit
  datasync audit --service catalog --service search --json`);
  audit.action(async (options: AuditOptions) => {
    const progress = startProgress(io, { label: 'auditing cells', finished: 'audited', noun: 'cells', quiet: options.quiet });
    const output = new Output(progress.share(io), options);
    const databaseUrl = auditDatabaseUrl(options.database, io.env);
    const transportSpec = options.transport === undefined ? undefined : resolveTransportSpec(options.transport, io.env);
    const loaded = await loadProjectModule(path.join(options.platform, 'audit', 'audit.ts'), '--platform', 'the folder of the reference platform (with audit/audit.ts)');
    const { runAudit } = loaded as { runAudit: (o: unknown) => Promise<AuditReport> };
    let db: pg.Pool | undefined;
    try {
      db = await openPostgres(databaseUrl, { max: 8 });
      output.note(`datasync audit: probing the platform on ${redactUrl(databaseUrl)}…`);
      const report = await runAudit({
        db, databaseUrl, transportSpec, services: options.service, timeoutMs: options.timeout * 1_000,
        onRow: (row: AuditRow, done: number, total: number) => {
          const failed = Object.values(row.cells).filter((cell) => cell.status !== 'pass' && cell.status !== 'na').length;
          progress.log(`  ${row.title}: ${failed === 0 ? 'verified' : `${failed} cell${failed === 1 ? '' : 's'} failed`} (${done}/${total})`);
        },
        onProgress: (cellsDone: number, cellsTotal: number) => {
          progress.update(cellsDone, cellsTotal, cellsDone === cellsTotal ? "discarding the probes' dead letters…" : '');
        },
      });
      progress.finish();
      if (output.json) {
        output.document(report);
      } else {
        printTable(output, report);
      }
      if (!report.ok) throw new CommandFailure('audit: not every applicable cell is verified (see the evidence above)');
    } catch (error) {
      if (error instanceof Error && /no running platform found/.test(error.message)) throw new ArgumentError('--database', redactUrl(databaseUrl), error.message);
      throw error;
    } finally {
      progress.close();
      await db?.end();
    }
  });
}

/** What the platform's audit returns (platform/audit/audit.ts), as far as the CLI prints it. */
interface AuditCell { status: keyof typeof SYMBOLS; evidence: string }
interface AuditRow { service: string; title: string; cells: Record<string, AuditCell> }
interface AuditReport { rows: AuditRow[]; ok: boolean; durationMs: number; discardedDeadLetters: number }

const TITLES: Record<string, string> = {
  producer: 'Data Producer', consumer: 'Data Consumer', idempotency: 'Idempotency', schema: 'Schema Validation', cache: 'Cache Invalidation', dlq: 'DLQ',
};

function printTable(output: Output, report: AuditReport): void {
  const columns = Object.keys(TITLES);
  output.line(`| Service | ${columns.map((c) => TITLES[c]).join(' | ')} |`);
  output.line(`|---|${columns.map(() => '---').join('|')}|`);
  for (const row of report.rows) {
    output.line(`| **${row.title}** | ${columns.map((c) => SYMBOLS[row.cells[c]!.status]).join(' | ')} |`);
  }
  output.line();
  output.line('Evidence:');
  for (const row of report.rows) {
    for (const column of columns) {
      const cell = row.cells[column]!;
      if (cell.status === 'na') continue;
      const mark = cell.status === 'pass' ? output.style('✓', 'green') : output.style('✗', 'red');
      output.line(`  ${mark} ${row.title} · ${TITLES[column]}: ${cell.evidence}`);
    }
  }
  output.line();
  const failed = report.rows.flatMap((row) => Object.values(row.cells)).filter((cell) => cell.status !== 'pass' && cell.status !== 'na').length;
  output.line(`${report.ok ? output.style('every applicable cell verified', 'green') : output.style(`${failed} cells not verified`, 'red')} in ${(report.durationMs / 1_000).toFixed(1)} s; ${report.discardedDeadLetters} dead letters caused by the probes were discarded`);
}
