import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Registry } from 'prom-client';
import type { JsonSchema } from '../core/contracts.js';
import { SyncError } from '../core/errors.js';
import { metricsRegistry } from '../observability/metrics.js';
import { DEFAULT_SLA_SECONDS, registrySource, type MetricsSource } from '../observability/snapshot.js';
import { discardDeadLetter, replayDeadLetter } from '../postgres/dead-letter-replay.js';
import type { SqlPool } from '../postgres/sql.js';
import type { Publisher } from '../transports/transport.js';
import { readAsset } from './assets.js';
import { findDeadLetter, listActions, listDeadLetters } from './dead-letter-view.js';
import { MetricsHistory } from './metrics-history.js';

/**
 * The admin API and the dashboard page (DESIGN.md section 2, `admin/`): live sync metrics
 * (`/api/overview`, `/api/history`), dead letters with replay and discard (confirmed, and
 * recorded in the schema's `audit_log`), the action trail, and the participation table of
 * `datasync audit`. The routes and their answers are listed in docs/observability.md,
 * "Dashboard and admin API". Errors are `{"error": {"code", "message", "field"?}}`.
 *
 * Meant for 127.0.0.1: requests whose `Host` is not a loopback name (a DNS-rebinding page) are
 * refused, and so are POSTs a page of another origin sends, so a web page the operator has
 * open cannot replay or discard anything.
 */

/** A service on the dashboard's topology. */
export interface AdminService {
  readonly name: string;
  /** One line: what it owns and does. */
  readonly summary?: string;
  /** Whether an instance of it runs (in this process, or registered and answering). */
  readonly running: boolean;
}

/** A topic on the dashboard's topology. */
export interface AdminTopic {
  readonly name: string;
  readonly owner: string;
  readonly publishers: readonly string[];
  readonly subscribers: readonly string[];
  /** The event data's JSON Schema: fields marked `x-pii` are masked in dead-letter views. Not sent to the page. */
  readonly schema?: JsonSchema;
}

/** The services and topics the dashboard draws. */
export interface AdminTopology {
  readonly services: readonly AdminService[];
  readonly topics: readonly AdminTopic[];
}

/** The participation table (`datasync audit`): columns, and per service a mark per column. */
export interface ParticipationTable {
  readonly columns: readonly string[];
  /** Cells are ✅, ⚠️, ❌ or N/A. */
  readonly rows: readonly {
    readonly service: string;
    readonly cells: Readonly<Record<string, string>>;
    /** What each probe did and saw, per column. */
    readonly evidence?: Readonly<Record<string, string>>;
  }[];
}

/** Runs the probes of `datasync audit` (takes tens of seconds). */
export interface ParticipationRunner {
  run(): Promise<ParticipationTable>;
}

/** Something given as a value or computed at each request. */
export type Live<T> = T | (() => T | Promise<T>);

/** Configuration of {@link createAdminApp}. */
export interface AdminOptions {
  /** Where metrics are read (several processes are merged); default this process's `metricsRegistry`. */
  readonly sources?: Live<readonly MetricsSource[]>;
  /** The registry `GET /metrics` serves; default `metricsRegistry`. */
  readonly registry?: Registry;
  /** The database of the dead letters and the audit log; without it the DLQ and action routes answer 501. */
  readonly pool?: SqlPool;
  /** Schemas holding `dead_letters` and `audit_log`; default the topology's service names. */
  readonly schemas?: Live<readonly string[]>;
  /** Where replays publish; without it replay answers 501. */
  readonly publisher?: Publisher;
  /** Services and topics; default none. */
  readonly topology?: Live<AdminTopology>;
  /** `datasync audit`'s probes; without it the participation table is empty and its run answers 501. */
  readonly participation?: ParticipationRunner;
  /** The P95 sync latency target, seconds; default 0.5. */
  readonly slaSeconds?: number;
  /** Seconds `/api/overview` summarizes; default 10. */
  readonly windowSeconds?: number;
  /** Seconds of history kept (one point a second); default 600. */
  readonly historySeconds?: number;
  /** Milliseconds between readings while someone watches (an API request in the last minute); default 1,000. */
  readonly sampleIntervalMs?: number;
  /** Milliseconds between readings while nobody does; default 10,000. */
  readonly idleSampleIntervalMs?: number;
  /** Host names the API answers to (`any`: every one); default loopback names (127.0.0.1, localhost, ::1). */
  readonly allowedHosts?: readonly string[] | 'any';
  /** Background failures (a reading, a participation run, a 500). */
  readonly onError?: (error: unknown, where: string) => void;
}

/** The app, and its sampling of the metrics. */
export interface AdminApp {
  readonly app: Hono;
  readonly history: MetricsHistory;
  /** Starts reading the metrics once a second for `/api/history`. */
  start(): void;
  /** Stops the readings. Idempotent. */
  close(): void;
}

/** Default port of the dashboard and admin API. */
export const DEFAULT_ADMIN_PORT = 4400;

const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '::1'];
const STATUSES = ['pending', 'replayed', 'discarded', 'all'] as const;
const DLQ_ID = /^\d{1,18}$/;

class ApiError extends Error {
  constructor(readonly status: ContentfulStatusCode, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

function errorBody(error: ApiError): { error: { code: string; message: string; field?: string } } {
  return { error: { code: error.code, message: error.message, ...(error.field === undefined ? {} : { field: error.field }) } };
}

async function resolve<T>(value: Live<T> | undefined, fallback: T): Promise<T> {
  if (value === undefined) return fallback;
  return typeof value === 'function' ? (value as () => T | Promise<T>)() : value;
}

/** The host name of a `Host` header (`127.0.0.1:4400` → `127.0.0.1`, `[::1]:4400` → `::1`). */
function hostName(header: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(header);
  return (bracketed ? bracketed[1]! : header.replace(/:\d+$/, '')).toLowerCase();
}

/** Who asks, for the audit log: `dashboard@<remote address>`. */
function actorOf(c: Context): string {
  let address: string | undefined;
  try {
    address = getConnInfo(c).remote.address;
  } catch {
    address = undefined; // not served by @hono/node-server (app.request in a test)
  }
  return `dashboard@${address ?? 'unknown'}`;
}

/** An integer query parameter within [min, max], else a 400 naming it. */
function intParam(c: Context, name: string, fallback: number, min: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) throw new ApiError(400, 'INVALID_FIELD', `${name}: ${JSON.stringify(raw)} is not valid; expected a whole number from ${min} to ${max}`, name);
  return value;
}

/** Refuses an action without `{"confirm": true}` in its JSON body. */
async function requireConfirmation(c: Context): Promise<void> {
  const text = await c.req.text();
  let body: unknown;
  try {
    body = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(400, 'INVALID_BODY', 'body: not JSON; send {"confirm": true}', 'body');
  }
  if ((body as { confirm?: unknown } | null)?.confirm !== true) {
    throw new ApiError(400, 'CONFIRMATION_REQUIRED', 'confirm: this action changes a dead letter; send {"confirm": true} to do it', 'confirm');
  }
}

/** Builds the admin app; {@link startAdminServer} serves it. */
export function createAdminApp(options: AdminOptions = {}): AdminApp {
  const onError = options.onError ?? (() => undefined);
  const registry = options.registry ?? metricsRegistry;
  const slaSeconds = options.slaSeconds ?? DEFAULT_SLA_SECONDS;
  const historySeconds = options.historySeconds ?? 600;
  const intervalMs = options.sampleIntervalMs ?? 1_000;
  const allowedHosts = options.allowedHosts === 'any' ? undefined : new Set((options.allowedHosts ?? LOOPBACK_HOSTS).map((h) => h.toLowerCase()));
  const history = new MetricsHistory({
    sources: () => resolve(options.sources, [registrySource(registry)]),
    intervalMs, idleIntervalMs: options.idleSampleIntervalMs, capacity: Math.ceil((historySeconds * 1_000) / intervalMs), windowSeconds: options.windowSeconds ?? 10,
    onError: (error) => onError(error, 'reading the metrics'),
  });
  const topology = (): Promise<AdminTopology> => resolve(options.topology, { services: [], topics: [] });
  const schemas = async (): Promise<readonly string[]> => options.schemas === undefined ? (await topology()).services.map((s) => s.name) : resolve(options.schemas, []);
  const pool = (): SqlPool => {
    if (!options.pool) throw new ApiError(501, 'NOT_CONFIGURED', 'this dashboard has no database: start it with one (datasync dashboard --database <url>) to see dead letters and actions');
    return options.pool;
  };
  const participation: { running: boolean; ranAt: string | null; table: ParticipationTable; error: string | null } = {
    running: false, ranAt: null, table: { columns: [], rows: [] }, error: null,
  };

  const app = new Hono();
  app.use('*', async (c, next) => {
    const host = c.req.header('host');
    if (host !== undefined && allowedHosts && !allowedHosts.has(hostName(host))) {
      throw new ApiError(403, 'HOST_NOT_ALLOWED', `host: ${JSON.stringify(host)} is not this dashboard's address; open it at http://127.0.0.1:<port>`, 'host');
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const origin = c.req.header('origin');
      if (origin !== undefined && originHost(origin) !== host) {
        throw new ApiError(403, 'ORIGIN_NOT_ALLOWED', `origin: ${origin} may not change anything here; use the dashboard page itself`, 'origin');
      }
    }
    await next();
  });
  app.use('/api/*', bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.json(errorBody(new ApiError(413, 'BODY_TOO_LARGE', 'body: larger than 16 KiB; send {"confirm": true}', 'body')), 413) }));

  const serveAsset = async (c: Context, name: string) => {
    const asset = await readAsset(name);
    if (!asset) throw new ApiError(404, 'NOT_FOUND', `no asset ${name}`);
    return c.body(new Uint8Array(asset.body), 200, { 'content-type': asset.contentType, 'cache-control': 'no-cache' });
  };
  app.get('/', (c) => serveAsset(c, 'index.html'));
  app.get('/assets/:name', (c) => serveAsset(c, c.req.param('name')));
  app.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }));

  app.get('/api/overview', async (c) => {
    await history.watched();
    const [summary, { services, topics }, latest] = await Promise.all([history.summary(), topology(), history.latest()]);
    return c.json({
      at: summary.at,
      slaSeconds,
      windowSeconds: Math.round(summary.windowSeconds * 10) / 10,
      topology: {
        services: services.map((s) => ({ name: s.name, summary: s.summary ?? '', running: s.running })),
        topics: topics.map((t) => ({ name: t.name, owner: t.owner, publishers: t.publishers, subscribers: t.subscribers })),
      },
      latency: summary.latency,
      throughput: summary.throughput,
      outbox: summary.outbox,
      dlq: summary.dlq,
      freshness: summary.freshness,
      lag: summary.lag,
      circuits: summary.circuits,
      caches: summary.caches,
      sources: { answered: latest.answered, failed: latest.failed },
    });
  });

  app.get('/api/history', async (c) => {
    const seconds = intParam(c, 'seconds', 300, 1, historySeconds);
    await history.watched();
    return c.json({ points: history.points(seconds) });
  });

  app.get('/api/dlq', async (c) => {
    const status = c.req.query('status') ?? 'pending';
    if (!(STATUSES as readonly string[]).includes(status)) throw new ApiError(400, 'INVALID_FIELD', `status: ${JSON.stringify(status)} is not valid; expected one of ${STATUSES.join(', ')}`, 'status');
    const limit = intParam(c, 'limit', 50, 1, 500);
    const consumer = c.req.query('consumer') || undefined;
    const { topics } = await topology();
    const topicSchemas = new Map(topics.map((t) => [t.name, t.schema]));
    const entries = await listDeadLetters(pool(), await schemas(), { consumer, status: status as (typeof STATUSES)[number], limit }, (topic) => topicSchemas.get(topic));
    return c.json({ entries });
  });

  /** The pending dead letter of the route, or a 404/400 saying why not. */
  const pendingLetter = async (c: Context): Promise<NonNullable<Awaited<ReturnType<typeof findDeadLetter>>>> => {
    const { consumer, id } = c.req.param() as { consumer: string; id: string };
    if (!DLQ_ID.test(id)) throw new ApiError(400, 'INVALID_FIELD', `id: ${JSON.stringify(id)} is not a dead-letter id (a whole number, as /api/dlq lists them)`, 'id');
    await requireConfirmation(c);
    const found = await findDeadLetter(pool(), await schemas(), consumer, id);
    if (!found || found.letter.status !== 'pending') {
      const why = found ? `it is ${found.letter.status}` : 'there is none';
      throw new ApiError(404, 'DEAD_LETTER_NOT_FOUND', `no pending dead letter ${id} of ${consumer} (${why})`, 'id');
    }
    return found;
  };

  app.post('/api/dlq/:consumer/:id/replay', async (c) => {
    const { store, letter } = await pendingLetter(c);
    if (!options.publisher) throw new ApiError(501, 'NOT_CONFIGURED', 'this dashboard has no transport to publish replays on (datasync dashboard --transport <spec>)');
    if (letter.envelope === null) {
      throw new ApiError(409, 'NOT_REPLAYABLE', `dead letter ${letter.id} has no envelope (reason ${letter.reason}: the message was not a CloudEvent), so there is nothing to publish; discard it`);
    }
    const skipped = await replayDeadLetter(pool(), store, options.publisher, { ...letter, envelope: letter.envelope }, { actor: actorOf(c) });
    if (skipped !== undefined) throw new ApiError(409, 'DEAD_LETTER_CHANGED', `dead letter ${letter.id} was not replayed: ${skipped}`);
    return c.json({ replayed: true, id: letter.id });
  });

  app.post('/api/dlq/:consumer/:id/discard', async (c) => {
    const { store, letter } = await pendingLetter(c);
    if (!(await discardDeadLetter(pool(), store, letter, { actor: actorOf(c) }))) {
      throw new ApiError(409, 'DEAD_LETTER_CHANGED', `dead letter ${letter.id} was not discarded: it is no longer pending`);
    }
    return c.json({ discarded: true, id: letter.id });
  });

  app.get('/api/actions', async (c) => {
    const limit = intParam(c, 'limit', 20, 1, 500);
    const entries = await listActions(pool(), await schemas(), limit);
    return c.json({ entries: entries.map((e) => ({ at: e.at, actor: e.actor, action: e.action, target: e.target, detail: e.detail })) });
  });

  app.get('/api/participation', (c) => c.json({
    ranAt: participation.ranAt, running: participation.running, available: options.participation !== undefined,
    columns: participation.table.columns, rows: participation.table.rows, error: participation.error,
  }));

  app.post('/api/participation/run', (c) => {
    const runner = options.participation;
    if (!runner) throw new ApiError(501, 'NOT_CONFIGURED', 'this dashboard cannot run the participation probes (no platform given)');
    if (participation.running) throw new ApiError(409, 'ALREADY_RUNNING', 'the participation probes are running; wait for them to finish');
    participation.running = true;
    runner.run().then((table) => {
      participation.table = table;
      participation.error = null;
    }, (error: unknown) => {
      participation.error = error instanceof Error ? error.message : String(error);
      onError(error, 'running the participation probes');
    }).finally(() => {
      participation.running = false;
      participation.ranAt = new Date().toISOString();
    });
    return c.json({ running: true }, 202);
  });

  app.notFound((c) => c.json(errorBody(new ApiError(404, 'NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)), 404));
  app.onError((error, c) => {
    if (error instanceof ApiError) return c.json(errorBody(error), error.status);
    // a broker or database that did not answer (e.g. a replay's publish timed out): the gateway's fault, not ours
    if (error instanceof SyncError && error.code === 'SERVER_UNREACHABLE') return c.json(errorBody(new ApiError(504, error.code, error.message)), 504);
    onError(error, `HTTP ${c.req.method} ${c.req.path}`);
    return c.json(errorBody(new ApiError(500, 'INTERNAL', `the request failed: ${error instanceof Error ? error.message : String(error)}`)), 500);
  });

  return {
    app, history,
    start: () => history.start(),
    close: () => history.close(),
  };
}

/** The host of an `Origin` header; undefined for `null` or anything that is not a URL (refused like a foreign origin). */
function originHost(origin: string): string | undefined {
  if (origin === 'null') return undefined;
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
