import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { POSTGRES_URL, uniqueName, waitFor } from './servers.js';

/** One reply of the platform's HTTP API; `body` is the parsed JSON (undefined when empty). */
export interface ApiReply<T> {
  readonly status: number;
  readonly body: T;
}

/** The platform under test, once `beforeAll` has run. */
export interface PlatformProcess {
  /** `http://127.0.0.1:<port>` of its HTTP API. */
  readonly baseUrl: () => string;
  /** A pool on the platform's own database, to read the services' tables and outboxes. */
  readonly db: () => pg.Pool;
  /** Every line the platform printed so far (stdout and stderr). */
  readonly output: readonly string[];
  /** Calls the API with a JSON body (or `raw` text as the body). */
  call<T>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiReply<T>>;
}

/**
 * Runs `platform/main.ts --port 0 --no-workload` in a child process for the enclosing
 * `describe`, on a database of its own created on the test PostgreSQL and dropped afterwards
 * (the services hard-code their schema names), over the postgres transport.
 */
export function usePlatformProcess(prefix: string): PlatformProcess {
  const database = uniqueName(prefix);
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  const output: string[] = [];
  let db: pg.Pool | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<unknown[]> | undefined;
  let baseUrl = '';

  beforeAll(async () => {
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    db = new pg.Pool({ connectionString: url.toString(), max: 2 });
    db.on('error', () => undefined); // DROP DATABASE … WITH (FORCE) ends its connections at the end
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url.toString(), DATASYNC_TRANSPORT: 'postgres' };
    delete env.DATASYNC_HTTP_PORT;
    const platform = spawn(process.execPath, ['--import', 'tsx', 'platform/main.ts', '--port', '0', '--no-workload'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = platform;
    exited = once(platform, 'exit');
    createInterface({ input: platform.stdout }).on('line', (line) => output.push(line));
    createInterface({ input: platform.stderr }).on('line', (line) => output.push(line));
    const listening = /^\s+http api\s+(http:\/\/127\.0\.0\.1:\d+)/;
    await waitFor('the http api line', () => {
      if (platform.exitCode !== null) throw new Error(`the platform exited (${platform.exitCode}) before listening:\n${output.join('\n')}`);
      return output.some((line) => listening.test(line));
    }, 60_000);
    baseUrl = output.map((line) => listening.exec(line)).find(Boolean)![1]!;
  }, 90_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await db?.end();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }, 30_000);

  return {
    baseUrl: () => baseUrl,
    db: () => db!,
    output,
    async call<T>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiReply<T>> {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : undefined,
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      });
      const text = await response.text();
      return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
    },
  };
}
