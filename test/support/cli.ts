import { spawn } from 'node:child_process';
import { POSTGRES_URL, REDIS_URL } from './servers.js';

/** What one `datasync` command printed and how it exited. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `datasync <args>` as a real child process against the test servers (DATABASE_URL,
 * DATASYNC_TRANSPORT on the test Redis, no colour); `env` adds or overrides variables.
 * Killed after `timeoutMs` (default 60 s) so a hung command fails its test instead of the run.
 */
export function runCli(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, DATABASE_URL: POSTGRES_URL, DATASYNC_TRANSPORT: REDIS_URL, DATASYNC_DEBUG: '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
