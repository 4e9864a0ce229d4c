import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { addCheckCommand } from './check.js';
import { addDashboardCommand } from './dashboard.js';
import { addDlqCommands } from './dlq.js';
import { EXIT_CODES, describeFailure } from './failure.js';
import { addMigrateCommand } from './migrate.js';
import { addOutboxCommands } from './outbox.js';
import { addPlatformCommands } from './platform.js';
import { addStatusCommand } from './status.js';
import type { CliIo } from './output.js';

/** The package version (package.json sits two folders up from both src/cli and dist/cli). */
function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/**
 * Builds the `datasync` command tree. Commander never exits the process or writes to
 * the real streams: errors are thrown (exitOverride) and output goes to `io`.
 */
export function createProgram(io: CliIo, helpHint: () => string = () => 'Run \'datasync --help\' for usage.'): Command {
  const program = new Command('datasync');
  program
    .description('Operate datasync: migrate schemas, watch and replay the outbox, list, replay and discard dead letters, check contracts, run and audit the reference platform, see its sync health (status, dashboard).')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for the command')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(`datasync: ${text.replace(/^error: /, '').trimEnd()}\n${helpHint()}\n`),
    })
    .addHelpText('after', `
Commands with subcommands: datasync outbox --help, datasync dlq --help.

Environment:
  DATABASE_URL        PostgreSQL URL when --database is not given
  DATASYNC_TRANSPORT  where to publish when --transport is not given: postgres (default), redis://…, nats://…, amqp://…
  NO_COLOR            no colour even on a terminal
  DATASYNC_DEBUG=1    print stack traces of errors

Exit codes: 0 done, 1 failed, 2 bad arguments, 3 server unreachable, 130 interrupted.`);
  addMigrateCommand(program, io);
  addOutboxCommands(program, io);
  addDlqCommands(program, io);
  addCheckCommand(program, io);
  addPlatformCommands(program, io);
  addDashboardCommand(program, io);
  addStatusCommand(program, io);
  return program;
}

/** The help hint printed under an argument error: `datasync dlq list --help` for the command typed. */
function helpHintFor(program: Command, argv: readonly string[]): string {
  const path: string[] = [];
  let command = program;
  for (const word of argv) {
    const sub = command.commands.find((c) => c.name() === word);
    if (!sub) break;
    path.push(word);
    command = sub;
  }
  return `Run 'datasync ${[...path, '--help'].join(' ')}' for usage.`;
}

/**
 * Runs the `datasync` command with `argv` (the arguments after the program name) and
 * returns the exit code (docs/cli.md): 0 done, 1 failed, 2 bad arguments, 3 a server
 * unreachable, 130 interrupted. Never throws and never calls `process.exit`.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const program: Command = createProgram(io, () => hint);
  const hint = helpHintFor(program, argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has written its message (or the help) through configureOutput already.
      if (error.exitCode === 0) return EXIT_CODES.ok;
      return EXIT_CODES.usage;
    }
    const report = describeFailure(error, io.env.DATASYNC_DEBUG === '1');
    io.stderr.write(`${report.message}\n`);
    if (report.exitCode === EXIT_CODES.usage) io.stderr.write(`${hint}\n`);
    return report.exitCode;
  }
}
