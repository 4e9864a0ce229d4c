import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { POSTGRES_URL, uniqueName, waitFor } from './servers.js';

/** One reply of the platform's HTTP API; `body` is the parsed JSON (undefined when empty). */
export interface ApiReply<T> {
  readonly status: number;
  readonly body: T;
  readonly headers?: Headers;
}

/** The platform under test, once `beforeAll` has run. */
export interface PlatformProcess {
  /** `http://127.0.0.1:<port>` of its HTTP API. */
  readonly baseUrl: () => string;
  /** The platform's database URL (its own database, or the embedded server's). */
  readonly databaseUrl: () => string;
  /** A pool on the platform's own database, to read the services' tables and outboxes. */
  readonly db: () => pg.Pool;
  /** Every line the platform printed so far (stdout and stderr). */
  readonly output: readonly string[];
  /** Calls the API with a JSON body (or `raw` text as the body). */
  call<T = any>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiReply<T>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** How to run the platform. */
export interface PlatformProcessOptions {
  /** `--transport`; default `postgres`. */
  readonly transport?: string;
  /** `REDIS_URL` for the caches; default none (in-process). */
  readonly redisUrl?: string;
  /** No DATABASE_URL: the embedded PostgreSQL in a temporary data folder. */
  readonly embedded?: boolean;
  /** Extra flags; default `--no-workload`. */
  readonly args?: readonly string[];
}

/**
 * Runs `platform/main.ts --port 0` in a child process for the enclosing `describe`: on a
 * database of its own created on the test PostgreSQL and dropped afterwards (the services
 * hard-code their schema names), or on the embedded PostgreSQL with `embedded: true`.
 */
export function usePlatformProcess(prefix: string, options: PlatformProcessOptions = {}): PlatformProcess {
  const database = uniqueName(prefix);
  const admin = options.embedded ? undefined : new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  const output: string[] = [];
  let db: pg.Pool | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<unknown[]> | undefined;
  let baseUrl = '';
  let databaseUrl = '';
  let root: string | undefined;

  beforeAll(async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, DATASYNC_TRANSPORT: options.transport ?? 'postgres', DATASYNC_PROGRESS_SECONDS: '2' };
    delete env.DATASYNC_HTTP_PORT;
    delete env.REDIS_URL;
    if (options.redisUrl) env.REDIS_URL = options.redisUrl;
    if (options.embedded) {
      root = await mkdtemp(path.join(tmpdir(), `datasync-${prefix}-`));
      await chmod(root, 0o755); // user postgres runs the server when the tests run as root
      env.DATASYNC_DATA_DIR = path.join(root, 'postgres');
      delete env.DATABASE_URL;
    } else {
      await admin!.query(`CREATE DATABASE ${database}`);
      const url = new URL(POSTGRES_URL);
      url.pathname = `/${database}`;
      env.DATABASE_URL = url.toString();
    }
    const platform = spawn(process.execPath, ['--import', 'tsx', 'platform/main.ts', '--port', '0', ...(options.args ?? ['--no-workload'])], {
      env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = platform;
    exited = once(platform, 'exit');
    createInterface({ input: platform.stdout }).on('line', (line) => output.push(line));
    createInterface({ input: platform.stderr }).on('line', (line) => output.push(line));
    const listening = /^\s+http api\s+(http:\/\/127\.0\.0\.1:\d+)/;
    await waitFor('the http api line', () => {
      if (platform.exitCode !== null) throw new Error(`the platform exited (${platform.exitCode}) before listening:\n${output.join('\n')}`);
      return output.some((line) => listening.test(line));
    }, 120_000);
    baseUrl = output.map((line) => listening.exec(line)).find(Boolean)![1]!;
    databaseUrl = options.embedded ? output.map((line) => /^\s+database\s+(postgres:\/\/\S+)/.exec(line)).find(Boolean)![1]! : env.DATABASE_URL!;
    db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
    db.on('error', () => undefined); // DROP DATABASE … WITH (FORCE) ends its connections at the end
  }, 150_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    await db?.end();
    if (admin) {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    }
    if (root) await rm(root, { recursive: true, force: true });
  }, 60_000);

  return {
    baseUrl: () => baseUrl,
    databaseUrl: () => databaseUrl,
    db: () => db!,
    output,
    async call<T>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiReply<T>> {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : undefined,
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: (text === '' ? undefined : JSON.parse(text)) as T };
    },
  };
}
