/**
 * Entry point of the `datasync` command (bin/datasync.js, `npm run datasync`): runs
 * {@link run} on the process's arguments and streams and sets the exit code. The first
 * Ctrl-C asks the running command to stop between steps; a second one ends the process.
 */
import { Interrupted } from './failure.js';
import { run } from './program.js';

// A reader that goes away (`datasync dlq list | head -1`) must not crash the command or stop
// a replay half-way: the rest of the output is dropped and the work goes on.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort(new Interrupted()));
process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupt.signal });
