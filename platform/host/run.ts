/**
 * Runs services of the platform (platform/host/module.ts) in this process: migrates their
 * tables, starts their consumers (before any relay, so no group misses an event), their outbox
 * relays and one HTTP server with every module's routes, and registers the instance in
 * `platform.instances` so other processes (and `datasync audit`) find its API. `npm start`
 * runs every module here; `datasync start --service <name>` runs one.
 */
import { hostname } from 'node:os';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Transport } from 'datasync';
import { ConfigurationError } from 'datasync/core';
import type { CacheProvider } from 'datasync/cache';
import { metricsRegistry } from 'datasync/observability';
import { createCircuitBreaker, type CircuitBreaker } from 'datasync/resilience';
import { migrate, startRelay, type Migration, type OutboxRelay, type SqlPool } from 'datasync/postgres';
import { createProducer, defineService, startConsumer, type Consumer, type ConsumerHooks, type Outcome, type Producer, type SettledInfo } from 'datasync/runtime';
import { v5 as uuidv5 } from 'uuid';
import { platformServices } from '../contracts/index.js';
import { systemErrorReported } from '../contracts/notification.js';
import { ApiError, errorResponse } from '../http/errors.js';
import { startHttpServer, type HttpServer } from '../http/server.js';
import type { BuiltService, PlatformModule, ServiceDirectory } from './module.js';

/** The host's own table: which instance of which service answers where. */
const instancesTable: Migration = {
  id: 'platform_0001_instances',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.instances (
    id            text PRIMARY KEY,
    service       text NOT NULL,
    url           text NOT NULL,
    transport     text NOT NULL,
    host          text NOT NULL,
    pid           integer NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS instances_service ON {schema}.instances (service, heartbeat_at DESC)`,
};

/** Namespace of dead-letter report ids: one report per (service, event), however often it is dead-lettered. */
const REPORT_NAMESPACE = '3b2f6a4e-5d1c-4f0a-9c7e-2a8b1d6e4f93';

/**
 * Reports an event `service` dead-lettered as `notification.system-error.reported` (code
 * `DEAD_LETTERED`, the reason and message from its dead-letter row), in a transaction of its
 * own, so Notification alerts the on-call channel. Every consumer of the platform does this
 * through the host rather than in each handler.
 */
async function reportDeadLetter(pool: SqlPool, producer: Producer, service: string, info: SettledInfo): Promise<void> {
  const event = info.event!;
  const { rows: [letter] } = await pool.query<{ reason: string; error_message: string }>(
    `SELECT reason, error_message FROM "${service}".dead_letters WHERE consumer = $1 AND event_id = $2 ORDER BY id DESC LIMIT 1`,
    [service, event.id],
  );
  await producer.transaction((tx) => tx.publish(systemErrorReported, {
    id: uuidv5(`${service}:${event.id}`, REPORT_NAMESPACE), service, severity: 'error', code: 'DEAD_LETTERED',
    message: `${service} dead-lettered ${info.topic} (${letter?.reason ?? 'unknown reason'}): ${letter?.error_message ?? ''}`.slice(0, 500),
    topic: info.topic, eventId: event.id, occurredAt: new Date().toISOString(),
  }, { causationId: event.id }));
}

/** Largest request body the API reads (no route needs more; it keeps every event well below every transport's payload limit). */
export const MAX_BODY_BYTES = 64 * 1024;

/** How long a call to another service's API may take. */
const SERVICE_CALL_TIMEOUT_MS = 10_000;

/** Settled outcomes remembered per consuming service, for `GET /platform/consumers/:service/events/:id` (the audit's duplicate probe). */
const REMEMBERED_SETTLES = 2_000;

/** How often an instance refreshes its row; a row older than three of these is not used. */
const HEARTBEAT_MS = 5_000;

/** Configuration of {@link startPlatform}. */
export interface PlatformConfig {
  readonly modules: readonly PlatformModule[];
  readonly pool: SqlPool;
  /** For the relays' leader sessions. */
  readonly databaseUrl: string;
  readonly transport: Transport;
  /** The transport spec, registered in platform.instances for `datasync audit` (like DATABASE_URL, it may hold credentials: the table is as private as the database). */
  readonly transportName: string;
  readonly cache: CacheProvider;
  /** HTTP port (0 = a free one). */
  readonly port: number;
  /** Per consuming service, e.g. to time the sync. */
  readonly hooks?: (service: string) => ConsumerHooks | undefined;
  /** Errors of background work (relays, consumers, HTTP 500s). */
  readonly onError: (error: unknown, where: string) => void;
}

/** A module started. */
export interface RunningService {
  readonly module: PlatformModule;
  readonly built: BuiltService;
  readonly consumer?: Consumer;
  readonly relay?: OutboxRelay;
}

/** The services running in this process. */
export interface RunningPlatform {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly services: ReadonlyMap<string, RunningService>;
  readonly directory: ServiceDirectory;
  /** Stops HTTP, consumers, relays and module resources in that order; the pool, transport and cache stay open. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Finds services: in this process through the app, elsewhere through `platform.instances`.
 * Calls to another process go through a circuit breaker per service (`platform→<service>`):
 * when five calls in a row fail to get an answer (no instance, refused, timed out), the
 * service is not called for 10 s, so callers fail fast instead of each waiting out the
 * timeout. Any HTTP answer, a 5xx included, is an answer.
 */
function serviceDirectory(local: ReadonlySet<string>, app: () => Hono, pool: SqlPool, circuits: Map<string, CircuitBreaker>): ServiceDirectory {
  const circuitOf = (service: string): CircuitBreaker => {
    let circuit = circuits.get(service);
    if (!circuit) circuits.set(service, (circuit = createCircuitBreaker(`platform→${service}`)));
    return circuit;
  };
  return {
    async fetch(service, path, init) {
      if (local.has(service)) return app().request(path, init);
      return circuitOf(service).execute(() => remoteFetch(pool, service, path, init));
    },
  };
}

/** Calls `service` in another process, found in `platform.instances`. */
async function remoteFetch(pool: SqlPool, service: string, path: string, init: RequestInit | undefined): Promise<Response> {
  const { rows } = await pool.query<{ url: string }>(
    `SELECT url FROM platform.instances WHERE service = $1 AND heartbeat_at > now() - make_interval(secs => $2)
     ORDER BY heartbeat_at DESC LIMIT 1`,
    [service, (3 * HEARTBEAT_MS) / 1_000],
  );
  if (!rows[0]) throw new Error(`no running instance of the ${service} service answers (none registered in platform.instances in the last ${(3 * HEARTBEAT_MS) / 1_000} s); start it with: datasync start --service ${service}`);
  return fetch(new URL(path, rows[0].url), { ...init, signal: init?.signal ?? AbortSignal.timeout(SERVICE_CALL_TIMEOUT_MS) });
}

/** Whether `service` reports its dead letters: the platform's topology lets it publish system errors. */
function reportsDeadLetters(service: string): boolean {
  return platformServices.some((declared) => declared.name === service && declared.publishes.includes(systemErrorReported));
}

/** Records an outcome of `eventId`, keeping the last {@link REMEMBERED_SETTLES} event ids. */
function remember(seen: Map<string, Outcome[]>, eventId: string, outcome: Outcome): void {
  const outcomes = seen.get(eventId) ?? [];
  seen.delete(eventId);
  seen.set(eventId, [...outcomes, outcome]);
  if (seen.size > REMEMBERED_SETTLES) seen.delete(seen.keys().next().value!);
}

/** Migrates, builds and starts `config.modules`; on failure stops what started and rethrows. */
export async function startPlatform(config: PlatformConfig): Promise<RunningPlatform> {
  const names = new Set<string>();
  for (const module of config.modules) {
    if (names.has(module.name)) throw new ConfigurationError('--service', module.name, 'each service once');
    names.add(module.name);
  }
  await migrate(config.pool, 'platform', [instancesTable]);
  for (const module of config.modules) await migrate(config.pool, module.name, module.migrations);

  const app = new Hono();
  const circuits = new Map<string, CircuitBreaker>();
  const directory = serviceDirectory(names, () => app, config.pool, circuits);
  const running = new Map<string, RunningService>();
  const consumers: Consumer[] = [];
  const relays: OutboxRelay[] = [];
  const built: BuiltService[] = [];
  let http: HttpServer | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  const instanceIds: string[] = [];

  const settles = new Map<string, Map<string, Outcome[]>>(); // service → event id → outcomes, most recent last

  /** Runs every step even when one fails; each failure is reported, the first rethrown at the end. */
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= (async () => {
    clearInterval(heartbeat);
    const failures: unknown[] = [];
    const attempt = async (what: string, step: () => Promise<unknown> | undefined): Promise<void> => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
        config.onError(error, `stopping: ${what}`);
      }
    };
    // other processes stop calling this one first; then nothing new arrives over HTTP; modules
    // flush what they buffered (the Gateway's page views) while consumers and relays still run
    if (instanceIds.length > 0) await attempt('leaving platform.instances', () => config.pool.query('DELETE FROM platform.instances WHERE id = ANY($1)', [instanceIds]));
    await attempt('closing the HTTP server', () => http?.close());
    for (const [index, service] of built.entries()) await attempt(`closing ${config.modules[index]!.name}`, () => service.close?.());
    for (const consumer of consumers) await attempt(`stopping ${consumer.service.name}'s consumer`, () => consumer.close());
    for (const relay of relays) await attempt('stopping a relay', () => relay.close());
    for (const circuit of circuits.values()) circuit.close();
    if (failures.length > 0) throw failures[0];
  })());

  try {
    app.use('*', bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => errorResponse(c, new ApiError(413, 'BODY_TOO_LARGE', `body: larger than ${MAX_BODY_BYTES / 1024} KiB; send less`, 'body')),
    }));
    const producers = new Map<string, Producer>();
    for (const module of config.modules) {
      const producer = createProducer({ service: module.name, pool: config.pool });
      producers.set(module.name, producer);
      const parts = module.build({
        pool: config.pool, producer, cache: config.cache, services: directory,
        onError: (error) => config.onError(error, module.name),
      });
      built.push(parts);
      running.set(module.name, { module, built: parts });
      if (parts.routes) app.route(module.mount ?? `/${module.name}`, parts.routes);
    }
    // consumers first: startConsumer declares each group before it resolves, so a broker that
    // keeps nothing for a group before that (RabbitMQ) loses no event a relay publishes next
    for (const module of config.modules) {
      const parts = running.get(module.name)!;
      if (!parts.built.handlers?.length) continue;
      const service = defineService({ name: module.name, migrations: module.migrations, handlers: parts.built.handlers });
      const extra = config.hooks?.(module.name);
      const producer = producers.get(module.name)!;
      const reports = reportsDeadLetters(module.name);
      const publishes = module.publishes.length > 0;
      const seen = new Map<string, Outcome[]>();
      settles.set(module.name, seen);
      const consumer = await startConsumer(service, {
        pool: config.pool, transport: config.transport, migrate: false,
        hooks: {
          ...extra,
          onError: (error, { topic }) => config.onError(error, `${module.name} consuming ${topic}`),
          onSettled: (info) => {
            extra?.onSettled?.(info);
            if (info.event) remember(seen, info.event.id, info.outcome);
            // a handler may have published with publishWithin: wake the relay now that it committed
            if (publishes && info.outcome === 'applied') producer.notifier.notify();
            if (reports && info.outcome === 'dead_lettered' && info.event) {
              reportDeadLetter(config.pool, producer, module.name, info).catch((error: unknown) => config.onError(error, `${module.name} reporting a dead letter`));
            }
          },
        },
      });
      consumers.push(consumer);
      running.set(module.name, { ...parts, consumer });
    }
    for (const module of config.modules) {
      if (module.publishes.length === 0) continue;
      const relay = await startRelay({
        connectionString: config.databaseUrl, pool: config.pool, schema: module.name, publisher: config.transport.publisher,
        hooks: { onError: (error) => config.onError(error, `${module.name} relay`) },
      });
      relays.push(relay);
      running.set(module.name, { ...running.get(module.name)!, relay });
    }

    app.get('/platform/consumers/:service/events/:eventId', (c) => {
      const seen = settles.get(c.req.param('service'));
      if (!seen) throw new ApiError(404, 'NOT_FOUND', `service: ${c.req.param('service')} consumes nothing in this process`, 'service');
      return c.json({ outcomes: seen.get(c.req.param('eventId')) ?? [] });
    });
    // every process's own metrics: Prometheus text, and prom-client's JSON for the dashboard and `datasync status`
    app.get('/metrics', async (c) => c.body(await metricsRegistry.metrics(), 200, { 'content-type': metricsRegistry.contentType }));
    app.get('/platform/metrics.json', async (c) => c.json(await metricsRegistry.getMetricsAsJSON()));
    app.get('/platform/services', (c) => c.json({ services: [...running.values()].map(({ module }) => ({ name: module.name, summary: module.summary, mount: module.mount ?? `/${module.name}` })) }));
    app.notFound((c) => errorResponse(c, new ApiError(404, 'NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)));
    app.onError((error, c) => {
      if (error instanceof ApiError) return errorResponse(c, error);
      config.onError(error, `HTTP ${c.req.method} ${c.req.path}`);
      return errorResponse(c, new ApiError(500, 'INTERNAL', 'the request failed inside the platform; see its log'));
    });
    http = await startHttpServer(app, { port: config.port });

    for (const module of config.modules) {
      const id = `${module.name}@${hostname()}:${process.pid}:${new URL(http.url).port}`;
      instanceIds.push(id);
      await config.pool.query(
        `INSERT INTO platform.instances (id, service, url, transport, host, pid) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, transport = excluded.transport, started_at = now(), heartbeat_at = now()`,
        [id, module.name, http.url, config.transportName, hostname(), process.pid],
      );
    }
    heartbeat = setInterval(() => {
      config.pool.query('UPDATE platform.instances SET heartbeat_at = now() WHERE id = ANY($1)', [instanceIds])
        .catch((error: unknown) => config.onError(error, 'instance heartbeat'));
    }, HEARTBEAT_MS);
    heartbeat.unref();
  } catch (error) {
    await stop().catch(() => undefined); // each failure was reported through onError
    throw error;
  }
  return { url: http.url, services: running, directory, stop };
}
