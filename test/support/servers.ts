import { describe, inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import { answers } from './ports.js';

// When no PostgreSQL answers, test/support/global-setup.ts starts the embedded one and
// provides its URL. It becomes DATABASE_URL of this worker too, so child processes and
// anything that falls back to DATABASE_URL use the same server.
const embeddedPostgresUrl = inject('datasync.postgresUrl');
const embeddedPostgresProblem = inject('datasync.postgresProblem');
if (embeddedPostgresUrl) process.env.DATABASE_URL = embeddedPostgresUrl;

/** Integration tests use these servers; CI sets DATASYNC_REQUIRE_SERVERS=1 so none may be missing. */
export const POSTGRES_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const REQUIRE = process.env.DATASYNC_REQUIRE_SERVERS === '1';

type Server = 'postgres' | 'redis' | 'nats' | 'rabbitmq';

function addressOf(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || defaultPort) };
}

const ADDRESSES: Record<Server, { host: string; port: number }> = {
  postgres: addressOf(POSTGRES_URL, 5432),
  redis: addressOf(REDIS_URL, 6379),
  nats: addressOf(NATS_URL, 4222),
  rabbitmq: addressOf(AMQP_URL, 5672),
};

/** What to do when a server does not answer. */
const HOW_TO_START: Record<Server, string> = {
  postgres: embeddedPostgresProblem
    ? `the embedded PostgreSQL did not start either (${embeddedPostgresProblem})`
    : 'unset DATABASE_URL to let the tests start the embedded PostgreSQL, or start PostgreSQL there',
  redis: 'start Redis (redis-server --port 6379, or docker run -d -p 6379:6379 redis:7) or point REDIS_URL at one',
  nats: 'start NATS with JetStream (nats-server -js -p 4222, or docker run -d -p 4222:4222 nats:2 -js) or point NATS_URL at one',
  rabbitmq: 'start RabbitMQ (rabbitmq-server, or docker run -d -p 5672:5672 rabbitmq:3) or point AMQP_URL at one',
};

const availability = new Map<Server, boolean>();
for (const server of Object.keys(ADDRESSES) as Server[]) {
  const { host, port } = ADDRESSES[server];
  availability.set(server, await answers(port, host));
}

/**
 * `describe` for tests that need real servers. A missing server fails the file when
 * DATASYNC_REQUIRE_SERVERS=1 and marks it skipped otherwise (never a silent pass).
 */
export function describeWithServers(servers: readonly Server[], name: string, body: () => void): void {
  const missing = servers.filter((s) => !availability.get(s));
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const list = missing.map((s) => `${s} at ${ADDRESSES[s].host}:${ADDRESSES[s].port}`).join(', ');
  const fixes = missing.map((s) => `${s}: ${HOW_TO_START[s]}`).join('; ');
  if (REQUIRE) throw new Error(`DATASYNC_REQUIRE_SERVERS=1 but ${list} did not answer. ${fixes} (see README, "Running the tests").`);
  describe.skip(`${name} (skipped: ${list} not answering; ${fixes})`, body);
}

/** A fresh lower-case name for a test's own schema, topic or group. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** Polls `check` every 25 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
