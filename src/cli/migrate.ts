import type { Command } from 'commander';
import { migrate } from '../postgres/migrations.js';
import { resolveDatabaseUrl, usingConnections } from './connections.js';
import { addConnectionOptions, addJsonOption, parseSchemaList } from './options.js';
import { Output, type CliIo } from './output.js';
import { formatSeconds, quietOption, startProgress } from './progress.js';

interface MigrateOptions {
  schema: string[];
  database?: string;
  json?: boolean;
  quiet?: boolean;
}

/** What `migrate --json` prints per schema. */
interface SchemaMigrated {
  readonly schema: string;
  /** Migration ids applied by this run, in order; empty when the schema was up to date. */
  readonly applied: readonly string[];
}

/** Adds `datasync migrate --schema a[,b…]`: creates datasync's tables in each schema. */
export function addMigrateCommand(program: Command, io: CliIo): void {
  const command = program
    .command('migrate')
    .description('create datasync\'s tables (outbox, processed_events, dead_letters) in each schema; safe to run again')
    .requiredOption('--schema <names>', 'schema name, or several separated by commas (orders,search)', parseSchemaList)
    .addOption(quietOption());
  addConnectionOptions(command, false);
  addJsonOption(command);
  command.addHelpText('after', `
On stderr: the time each schema took, and with several schemas progress across them
(one updating line on a terminal); --quiet silences both.

Example:
  datasync migrate --schema catalog,search`);
  command.action(async (options: MigrateOptions) => {
    const total = options.schema.length;
    const progress = startProgress(io, { label: 'migrating schemas', finished: 'migrated', noun: total === 1 ? 'schema' : 'schemas', quiet: options.quiet, minTotal: 2 });
    const output = new Output(progress.share(io), options);
    const url = resolveDatabaseUrl(options.database, io.env);
    try {
      await usingConnections(async (connections) => {
        const pool = await connections.database(url);
        const results: SchemaMigrated[] = [];
        for (const [i, schema] of options.schema.entries()) {
          progress.update(i, total, schema);
          const started = performance.now();
          const applied = await migrate(pool, schema);
          results.push({ schema, applied });
          output.line(applied.length === 0 ? `${schema}: up to date` : `${schema}: applied ${applied.join(', ')}`);
          const took = formatMs(performance.now() - started);
          progress.log(`${schema}: ${applied.length === 0 ? `up to date, checked in ${took}` : `${applied.length} migration${applied.length === 1 ? '' : 's'} applied in ${took}`}`);
        }
        progress.update(total, total);
        progress.finish();
        if (output.json) output.document({ schemas: results });
      });
    } finally {
      progress.close();
    }
  });
}

/** `41 ms` below a second, else `1.3 s`. */
function formatMs(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : formatSeconds(ms / 1_000);
}
