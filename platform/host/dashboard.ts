/**
 * What the built-in dashboard (datasync/admin) needs to know of the platform: its topology
 * (every service of platform/contracts with its summary, every topic with owner, publishers,
 * subscribers and schema, for masking `x-pii` fields in dead-letter views), and the
 * participation table, run by `datasync audit`'s probes. Used by `npm start` / `datasync
 * start` (start.ts) and by `datasync dashboard`, which loads this file at run time.
 */
import { DEFAULT_ADMIN_PORT, type AdminTopology, type ParticipationRunner, type ParticipationTable } from 'datasync/admin';
import type { SqlExecutor } from 'datasync/postgres';
import { allTopics, platformServices } from '../contracts/index.js';
import { resolvePort } from '../http/server.js';
import { platformModules } from '../services/index.js';

export { DEFAULT_ADMIN_PORT };

/**
 * The dashboard's port from `--admin-port` (`flag`), else `DATASYNC_ADMIN_PORT`; undefined when
 * neither is given (the caller's default applies). A ConfigurationError names the source unless
 * it is an integer 0–65535.
 */
export function resolveAdminPort(flag: string | undefined, env: string | undefined = process.env.DATASYNC_ADMIN_PORT): number | undefined {
  return resolvePort({ flag: ['--admin-port', flag], env: ['DATASYNC_ADMIN_PORT', env], hint: '0 picks a free port; --no-admin turns the dashboard off' });
}

/** The platform's services and topics; `running(name)` says whether a service runs. */
export function platformTopology(running: (service: string) => boolean): AdminTopology {
  const summaries = new Map(platformModules.map((module) => [module.name, module.summary]));
  return {
    services: platformServices.map((service) => ({
      name: service.name,
      summary: summaries.get(service.name) ?? 'outside the platform: publishes to it',
      running: running(service.name),
    })),
    topics: allTopics.map((topic) => ({ name: topic.name, owner: topic.owner, publishers: topic.publishers, subscribers: topic.subscribers, schema: topic.schema })),
  };
}

/** Every service schema of the platform's modules (where their dead letters and audit logs are). */
export function platformSchemas(): string[] {
  return platformModules.map((module) => module.name);
}

const MARKS = { pass: '✅', fail: '❌', 'not-running': '⚠️', na: 'N/A' } as const;

/**
 * Runs `datasync audit`'s probes against the platform on `db` (its `platform.instances` says
 * where each service answers) and returns the seed's table: a column per seed column, a row
 * per service, ✅ verified, ❌ failed, ⚠️ not running, N/A as the seed has it; each row also
 * carries the probes' evidence per column.
 */
export function participationRunner(options: { db: SqlExecutor; databaseUrl: string; transportSpec?: string }): ParticipationRunner {
  return {
    async run(): Promise<ParticipationTable> {
      const [{ runAudit }, { COLUMNS, COLUMN_TITLES }] = await Promise.all([import('../audit/audit.js'), import('../audit/seed-table.js')]);
      const report = await runAudit({ db: options.db, databaseUrl: options.databaseUrl, transportSpec: options.transportSpec });
      return {
        columns: COLUMNS.map((column) => COLUMN_TITLES[column]),
        rows: report.rows.map((row) => ({
          service: row.title,
          cells: Object.fromEntries(COLUMNS.map((column) => [COLUMN_TITLES[column], MARKS[row.cells[column].status]])),
          evidence: Object.fromEntries(COLUMNS.map((column) => [COLUMN_TITLES[column], row.cells[column].evidence])),
        })),
      };
    },
  };
}
