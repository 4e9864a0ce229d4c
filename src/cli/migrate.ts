import type { Command } from 'commander';
import { migrate } from '../postgres/migrations.js';
import { resolveDatabaseUrl, usingConnections } from './connections.js';
import { addConnectionOptions, addJsonOption, parseSchemaList } from './options.js';
import { Output, type CliIo } from './output.js';

interface MigrateOptions {
  schema: string[];
  database?: string;
  json?: boolean;
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
    .requiredOption('--schema <names>', 'schema name, or several separated by commas (orders,search)', parseSchemaList);
  addConnectionOptions(command, false);
  addJsonOption(command);
  command.addHelpText('after', '\nExample:\n  datasync migrate --schema catalog,search');
  command.action(async (options: MigrateOptions) => {
    const output = new Output(io, options);
    const url = resolveDatabaseUrl(options.database, io.env);
    await usingConnections(async (connections) => {
      const pool = await connections.database(url);
      const results: SchemaMigrated[] = [];
      for (const [i, schema] of options.schema.entries()) {
        output.note(`migrating ${schema} (${i + 1}/${options.schema.length})…`);
        const applied = await migrate(pool, schema);
        results.push({ schema, applied });
        output.line(applied.length === 0 ? `${schema}: up to date` : `${schema}: applied ${applied.join(', ')}`);
      }
      if (output.json) output.document({ schemas: results });
    });
  });
}
