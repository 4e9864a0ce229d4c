import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { POSTGRES_URL, REDIS_URL } from './servers.js';

/** A TypeScript fixture running in its own process, whose stdout lines a test can wait for. */
export interface FixtureProcess {
  readonly process: ChildProcess;
  /** Resolves with the first line matching `pattern` (also one printed earlier); rejects if the child exits first or after 30 s. */
  line(pattern: RegExp): Promise<string>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
}

/**
 * Runs `file` with `node --import tsx`, passing `config` as JSON in DATASYNC_CHILD and the
 * test servers' addresses in DATABASE_URL and REDIS_URL. Kill it with SIGKILL for crash tests.
 */
export function startFixture(file: string, config: object): FixtureProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    env: { ...process.env, DATABASE_URL: POSTGRES_URL, REDIS_URL, DATASYNC_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    process: child,
    exited,
    line: (pattern) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      const timeout = AbortSignal.timeout(30_000);
      return Promise.race([
        new Promise<string>((resolve) => waiters.push({ pattern, resolve })),
        exited.then(() => { throw new Error(`${file} exited before printing ${pattern}`); }),
        new Promise<never>((_, reject) => timeout.addEventListener('abort', () => reject(new Error(`${file} did not print ${pattern} within 30 s`)))),
      ]);
    },
  };
}
