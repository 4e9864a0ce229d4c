import { CommanderError } from 'commander';
import { SyncError } from '../core/errors.js';

/** Exit codes of the `datasync` command (docs/cli.md). */
export const EXIT_CODES = {
  /** Done. */
  ok: 0,
  /** The command ran and failed: a SyncError (code in the message), a schema not migrated, a dead letter refused or skipped. */
  failed: 1,
  /** Bad arguments: unknown option, missing or invalid value; nothing was changed. */
  usage: 2,
  /** A server (PostgreSQL, Redis) did not answer. */
  unreachable: 3,
  /** Stopped by Ctrl-C (SIGINT). */
  interrupted: 130,
} as const;

/**
 * A command that ran and could not do what was asked, for reasons the message says in
 * full (exit code 1 unless given). Not a SyncError: it has no code of its own.
 */
export class CommandFailure extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_CODES.failed) {
    super(message);
    this.name = 'CommandFailure';
    this.exitCode = exitCode;
  }
}

/** The reason the CLI's abort signal carries on Ctrl-C. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted (Ctrl-C)');
    this.name = 'Interrupted';
  }
}

/** What to print on stderr for an error and the exit code it gives. */
export interface FailureReport {
  readonly message: string;
  readonly exitCode: number;
}

/**
 * Maps an error to its one-line message and exit code: ARGUMENT_INVALID → 2,
 * SERVER_UNREACHABLE → 3, another SyncError → `<message> (<CODE>)` and 1, anything else → 1.
 * With `debug` the stack follows the message.
 */
export function describeFailure(error: unknown, debug: boolean): FailureReport {
  const stack = debug && error instanceof Error && error.stack ? `\n${error.stack}` : '';
  if (error instanceof CommandFailure) return { message: `datasync: ${error.message}${stack}`, exitCode: error.exitCode };
  if (error instanceof SyncError) {
    if (error.code === 'SERVER_UNREACHABLE') return { message: `datasync: ${error.message}${stack}`, exitCode: EXIT_CODES.unreachable };
    if (error.code === 'ARGUMENT_INVALID') return { message: `datasync: ${error.message}${stack}`, exitCode: EXIT_CODES.usage };
    return { message: `datasync: ${error.message} (${error.code})${stack}`, exitCode: EXIT_CODES.failed };
  }
  if (error instanceof CommanderError) return { message: `datasync: ${error.message.replace(/^error: /, '')}`, exitCode: EXIT_CODES.usage };
  if (isAbort(error)) return { message: `datasync: interrupted; what was done so far stays done${stack}`, exitCode: EXIT_CODES.interrupted };
  const message = error instanceof Error ? error.message || error.name : String(error);
  return { message: `datasync: ${message}${stack}`, exitCode: EXIT_CODES.failed };
}

function isAbort(error: unknown): boolean {
  return error instanceof Interrupted || (error instanceof Error && error.name === 'AbortError');
}
