/**
 * `datasync audit`: the seed's Service Participation table for a running platform, each cell
 * verified by a probe against the live services, never read from configuration:
 *
 * - Data Producer: the service makes one real change through its own HTTP API; the audit finds
 *   the event in the service's outbox and waits until a subscriber has processed it.
 * - Data Consumer: the audit publishes a valid event on a topic the service consumes (as the
 *   topic's owner would) and waits until the service has processed it and its effect is there.
 * - Idempotency: the same event (same id) again; the effect is still there once, not twice.
 * - Schema Validation: the event with a required field removed; dead-lettered after 1 attempt.
 * - Cache Invalidation: a read through the service's cache is a hit; a change elsewhere makes
 *   the next reads rebuild it with the change.
 * - DLQ: an event the handler refuses (a business rule); it ends in the dead letters with a reason.
 *
 * The platform is found through its database: `platform.instances` says which service answers
 * where and over which transport. Probes leave their entities in place (SKUs `AUDIT-…`) and
 * discard the dead letters they caused once seen, so `dlq list` shows only real ones.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { CloudEvent, Transport } from 'datasync';
import { ConfigurationError, type AnyTopic } from 'datasync/core';
import { DeadLetterStore, type SqlExecutor } from 'datasync/postgres';
import { connectTransport } from 'datasync/transports';
import type { AuditApi, ModuleAudit, PlatformModule } from '../host/module.js';
import { platformModules } from '../services/index.js';
import { pollUntil } from './poll.js';
import { probeEnvelope, publishProbe } from './publish.js';
import { COLUMNS, SEED_ROWS, type Column } from './seed-table.js';

/** A verified cell (`pass`), a cell whose probe failed, one the seed marks N/A, or a service not running. */
export type CellStatus = 'pass' | 'fail' | 'na' | 'not-running';

/** One cell and what the probe saw. */
export interface Cell {
  readonly status: CellStatus;
  /** What was done and seen, e.g. `catalog.product.created → search processed it in 41 ms`. */
  readonly evidence: string;
}

/** One row of the table. */
export interface AuditRow {
  readonly service: string;
  readonly title: string;
  readonly cells: Readonly<Record<Column, Cell>>;
}

/** The whole result. */
export interface AuditReport {
  readonly rows: readonly AuditRow[];
  /** True when no cell failed and every service ran. */
  readonly ok: boolean;
  readonly startedAt: string;
  readonly durationMs: number;
  /** Dead letters the probes caused and discarded again. */
  readonly discardedDeadLetters: number;
}

/** Configuration of {@link runAudit}. */
export interface AuditOptions {
  /** The platform's database (its `platform.instances` says where each service answers). */
  readonly db: SqlExecutor;
  /** The platform's transport, to publish probe events; default: what the instances registered. */
  readonly transportSpec?: string;
  readonly databaseUrl: string;
  /** Only these services (rows); default all. */
  readonly services?: readonly string[];
  /** How long one probe waits for what it expects; default 20 s. */
  readonly timeoutMs?: number;
  /** Probes run at once; default 4. */
  readonly concurrency?: number;
  /** A line per finished row, for progress on a terminal. */
  readonly onRow?: (row: AuditRow, done: number, total: number) => void;
  /**
   * Cells settled so far (probed, N/A, or not running) of all `total` (rows × columns),
   * called as probes finish; for a progress line. Must not throw.
   */
  readonly onProgress?: (cellsDone: number, cellsTotal: number) => void;
}

/** How long one request of a probe to a service's API may take. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Thrown inside a probe: the cell fails with this message. */
class ProbeFailed extends Error {}

const pass = (evidence: string): Cell => ({ status: 'pass', evidence });
const fail = (evidence: string): Cell => ({ status: 'fail', evidence });

/** Where each service answers, from `platform.instances` (fresh heartbeats only). */
async function readInstances(db: SqlExecutor): Promise<{ urls: Map<string, string>; transport?: string }> {
  const { rows } = await db.query<{ service: string; url: string; transport: string }>(
    `SELECT DISTINCT ON (service) service, url, transport FROM platform.instances
     WHERE heartbeat_at > now() - interval '15 seconds' ORDER BY service, heartbeat_at DESC`,
  ).catch((error: unknown) => {
    if ((error as { code?: string }).code === '42P01') return { rows: [] }; // no platform has ever run on this database
    throw error;
  });
  return { urls: new Map(rows.map((row) => [row.service, row.url])), transport: rows[0]?.transport };
}

function apiFor(urls: ReadonlyMap<string, string>): AuditApi {
  return {
    async request(service, method, path, body) {
      const base = urls.get(service);
      if (!base) throw new ProbeFailed(`the ${service} service is not running (no instance in platform.instances), so ${method} ${path} cannot be made`);
      const response = await fetch(new URL(path, base), {
        method, headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, headers: response.headers, body: parsed };
    },
  };
}

/** The data with the first required field removed: an event its topic's schema refuses. */
function withoutRequiredField(topic: AnyTopic, data: Record<string, unknown>): { data: Record<string, unknown>; field: string } {
  const required = (topic.schema as { required?: string[] }).required ?? [];
  const field = required.find((name) => name in data);
  if (!field) throw new ProbeFailed(`${topic.name}: its schema requires no field the probe's event has, so no schema-invalid copy can be made`);
  const { [field]: _removed, ...rest } = data;
  try {
    topic.validate(rest);
  } catch {
    return { data: rest, field };
  }
  throw new ProbeFailed(`${topic.name}: the event without ${field} still passes the schema`);
}

interface ProbeContext {
  readonly db: SqlExecutor;
  readonly api: AuditApi;
  readonly transport: Transport;
  readonly timeoutMs: number;
  readonly running: ReadonlySet<string>;
  readonly discard: (schema: string, id: string) => Promise<void>;
  /** Every probe event put on the transport, to clean up after (its other subscribers see it too). */
  readonly published: { readonly id: string; readonly topic: AnyTopic }[];
  /** Counts `n` more cells settled, for {@link AuditOptions.onProgress}. */
  readonly settled: (n: number) => void;
}

async function processedBy(db: SqlExecutor, service: string, eventId: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM "${service}".processed_events WHERE consumer = $1 AND event_id = $2`, [service, eventId]);
  return rows.length > 0;
}

async function deadLetterOf(db: SqlExecutor, service: string, eventId: string): Promise<{ id: string; reason: string; attempts: number; error_message: string } | undefined> {
  const { rows } = await db.query<{ id: string; reason: string; attempts: number; error_message: string }>(
    `SELECT id, reason, attempts, error_message FROM "${service}".dead_letters WHERE consumer = $1 AND event_id = $2 ORDER BY id DESC LIMIT 1`,
    [service, eventId],
  );
  return rows[0];
}

async function probeProducer(module: PlatformModule, audit: ModuleAudit, ctx: ProbeContext): Promise<Cell> {
  if (!audit.produce) throw new ProbeFailed(`${module.name} has no producer probe`);
  const { rows: [clock] } = await ctx.db.query<{ now: Date }>('SELECT now()');
  const { topic, key } = await audit.produce.run(ctx.api);
  const eventId = await pollUntil(`an outbox row of ${topic.name} keyed ${key} in ${module.name}.outbox`, async () => {
    const { rows } = await ctx.db.query<{ event_id: string }>(
      `SELECT event_id FROM "${module.name}".outbox WHERE topic = $1 AND partition_key = $2 AND created_at >= $3 ORDER BY id DESC LIMIT 1`,
      [topic.name, key, clock!.now],
    );
    return rows[0]?.event_id;
  }, ctx.timeoutMs);
  const subscribers = topic.subscribers.filter((name: string) => ctx.running.has(name));
  if (subscribers.length === 0) throw new ProbeFailed(`${topic.name} ${eventId} is in ${module.name}'s outbox, but none of its subscribers (${topic.subscribers.join(', ')}) runs, so nothing can show it published and consumed`);
  const started = Date.now();
  const consumer = await pollUntil(`${topic.name} ${eventId} processed by ${subscribers.join(' or ')}`, async () => {
    for (const name of subscribers) if (await processedBy(ctx.db, name, eventId)) return name;
    return undefined;
  }, ctx.timeoutMs);
  return pass(`${topic.name} from the API → ${consumer} processed it in ${Date.now() - started} ms`);
}

/** Runs the consumer probes; returns the four consumer-side cells. */
async function probeConsumer(
  module: PlatformModule, audit: ModuleAudit, ctx: ProbeContext, settled: (n: number) => void,
): Promise<Pick<Record<Column, Cell>, 'consumer' | 'idempotency' | 'schema' | 'dlq'>> {
  const probe = audit.consume;
  if (!probe) {
    const none = fail(`${module.name} has no consumer probe`);
    return { consumer: none, idempotency: none, schema: none, dlq: none };
  }
  const topic = probe.topic as AnyTopic;
  const service = module.name;
  const publish = (event: CloudEvent): Promise<void> => {
    ctx.published.push({ id: event.id, topic });
    return publishProbe(ctx.transport.publisher, topic, event);
  };
  const cells: Partial<Record<Column, Cell>> = {};

  // consumer, then idempotency on the same event
  try {
    const data: unknown = await probe.valid(ctx.api);
    const event = probeEnvelope(topic, data);
    const started = Date.now();
    await publish(event);
    await pollUntil(`${topic.name} ${event.id} processed by ${service}`, async () => {
      if (await processedBy(ctx.db, service, event.id)) return true;
      const letter = await deadLetterOf(ctx.db, service, event.id);
      if (letter) throw new ProbeFailed(`the valid ${topic.name} event was dead-lettered (${letter.reason}): ${letter.error_message}`);
      return undefined;
    }, ctx.timeoutMs);
    const effects = await probe.effects(ctx.db, data);
    cells.consumer = effects === 1
      ? pass(`${topic.name} → processed and applied in ${Date.now() - started} ms`)
      : fail(`${topic.name} processed, but its effect is there ${effects} times (expected 1)`);
    try {
      await publish(event);
      // the service says when it settled the second delivery, and how (processing a duplicate commits nothing to see)
      const outcomes = await pollUntil(`${service} settling the second delivery of ${event.id}`, async () => {
        const reply = await ctx.api.request(service, 'GET', `/platform/consumers/${service}/events/${event.id}`);
        const seen = reply.status === 200 ? (reply.body as { outcomes: string[] }).outcomes : [];
        return seen.length >= 2 ? seen : undefined;
      }, ctx.timeoutMs);
      const after = await probe.effects(ctx.db, data);
      cells.idempotency = after === 1 && outcomes[1] === 'duplicate'
        ? pass(`the same ${topic.name} event delivered again → settled as ${outcomes[1]}, still one effect`)
        : fail(`after a second delivery (settled as ${outcomes[1]}) the effect is there ${after} times`);
    } catch (error) {
      cells.idempotency = fail((error as Error).message);
    }
  } catch (error) {
    cells.consumer = fail((error as Error).message);
    cells.idempotency = fail('not probed: the consumer probe failed');
  }
  settled(2);

  // schema validation: a copy without a required field
  try {
    const data = (await probe.valid(ctx.api)) as Record<string, unknown>;
    const broken = withoutRequiredField(topic, data);
    const event = probeEnvelope(topic, broken.data);
    await publish(event);
    const letter = await pollUntil(`a dead letter of the ${topic.name} event without ${broken.field}`, () => deadLetterOf(ctx.db, service, event.id), ctx.timeoutMs);
    await ctx.discard(service, letter.id);
    cells.schema = letter.reason === 'schema_invalid' && letter.attempts === 1
      ? pass(`${topic.name} without ${broken.field} → dead-lettered at once (schema_invalid, 1 attempt)`)
      : fail(`dead-lettered as ${letter.reason} after ${letter.attempts} attempts (expected schema_invalid after 1)`);
  } catch (error) {
    cells.schema = fail((error as Error).message);
  }
  settled(1);

  // DLQ: an event the handler refuses
  try {
    const data: unknown = await probe.failing(ctx.api);
    const event = probeEnvelope(topic, data);
    await publish(event);
    const letter = await pollUntil(`a dead letter of the refused ${topic.name} event`, () => deadLetterOf(ctx.db, service, event.id), ctx.timeoutMs);
    await ctx.discard(service, letter.id);
    cells.dlq = letter.reason === 'schema_invalid' || letter.reason === 'malformed'
      ? fail(`the refused event failed the schema (${letter.error_message}); the probe must send a schema-valid event a handler refuses`)
      : pass(`${topic.name} refused by the handler → dead letter (${letter.reason}, ${letter.attempts} attempt${letter.attempts === 1 ? '' : 's'}): ${letter.error_message.slice(0, 120)}`);
  } catch (error) {
    cells.dlq = fail((error as Error).message);
  }
  return cells as Pick<Record<Column, Cell>, 'consumer' | 'idempotency' | 'schema' | 'dlq'>;
}

async function probeCache(module: PlatformModule, audit: ModuleAudit, ctx: ProbeContext): Promise<Cell> {
  if (!audit.cache) throw new ProbeFailed(`${module.name} has no cache probe`);
  const read = await audit.cache.prepare(ctx.api);
  const get = async (): Promise<{ hit: boolean; body: unknown; status: number }> => {
    const reply = await ctx.api.request(read.service, 'GET', read.path);
    return { hit: reply.headers.get('x-cache') === 'hit', body: reply.body, status: reply.status };
  };
  const first = await get();
  if (first.status !== 200) throw new ProbeFailed(`GET ${read.path} answered ${first.status}`);
  const second = await get();
  if (!second.hit) throw new ProbeFailed(`GET ${read.path} twice: the second read was not served from the cache (x-cache: ${second.hit ? 'hit' : 'miss'})`);
  if (read.changed(second.body)) throw new ProbeFailed(`GET ${read.path} shows the change before it was made`);
  const started = Date.now();
  await read.change();
  const seen = await pollUntil(`GET ${read.path} showing the change`, async () => {
    const reply = await get();
    return read.changed(reply.body) ? reply : undefined;
  }, ctx.timeoutMs);
  return pass(`GET ${read.path} cached (hit), change made elsewhere → ${seen.hit ? 'updated entry' : 'entry dropped and rebuilt'} with the change in ${Date.now() - started} ms`);
}

async function auditRow(row: (typeof SEED_ROWS)[number], ctx: ProbeContext): Promise<AuditRow> {
  const module = platformModules.find((m) => m.name === row.service);
  const cells: Partial<Record<Column, Cell>> = {};
  const audit = module?.audit ?? {};
  const notRunning: Cell = { status: 'not-running', evidence: `the ${row.service} service is not running (start it: datasync start --service ${row.service})` };
  if (!module || !ctx.running.has(row.service)) {
    for (const column of COLUMNS) cells[column] = row.na.includes(column) ? { status: 'na', evidence: 'N/A in the seed' } : notRunning;
    ctx.settled(COLUMNS.length);
    return { service: row.service, title: row.title, cells: cells as Record<Column, Cell> };
  }
  const attempt = async (column: Column, present: boolean, run: () => Promise<Cell>): Promise<void> => {
    if (!present && row.na.includes(column)) {
      cells[column] = { status: 'na', evidence: 'N/A in the seed' };
      return;
    }
    try {
      cells[column] = await run();
    } catch (error) {
      cells[column] = fail((error as Error).message);
    }
  };
  await attempt('producer', Boolean(audit.produce), () => probeProducer(module, audit, ctx));
  ctx.settled(1);
  if (audit.consume || !['consumer', 'idempotency', 'schema', 'dlq'].every((column) => row.na.includes(column as Column))) {
    let counted = 0;
    const consumerCells = await probeConsumer(module, audit, ctx, (n) => {
      counted += n;
      ctx.settled(n);
    });
    ctx.settled(4 - counted);
    for (const column of ['consumer', 'idempotency', 'schema', 'dlq'] as const) {
      cells[column] = !audit.consume && row.na.includes(column) ? { status: 'na', evidence: 'N/A in the seed' } : consumerCells[column];
    }
  } else {
    for (const column of ['consumer', 'idempotency', 'schema', 'dlq'] as const) cells[column] = { status: 'na', evidence: 'N/A in the seed' };
    ctx.settled(4);
  }
  await attempt('cache', Boolean(audit.cache), () => probeCache(module, audit, ctx));
  ctx.settled(1);
  return { service: row.service, title: row.title, cells: cells as Record<Column, Cell> };
}

/** How long no new dead letter of a probe event must appear before the clean-up ends: longer than a held event's retries. */
const CLEAN_UP_QUIET_MS = 8_000;

/**
 * A probe event reaches every subscriber of its topic, not only the probed one, and some of
 * them dead-letter it too (a schema-invalid copy, an order naming a probe product they do not
 * know), some only after holding it through their retries, and the duplicate probe sends one
 * event twice. So the dead letters of probe events are discarded in passes, until none has
 * appeared for {@link CLEAN_UP_QUIET_MS} (at most the probe timeout); returns how many.
 */
async function cleanUpAfterProbes(ctx: ProbeContext): Promise<number> {
  const ids = new Map<string, Set<string>>(); // subscriber → probe event ids it receives
  for (const { id, topic } of ctx.published) {
    for (const subscriber of topic.subscribers.filter((name: string) => ctx.running.has(name))) {
      if (!ids.has(subscriber)) ids.set(subscriber, new Set());
      ids.get(subscriber)!.add(id);
    }
  }
  const deadline = Date.now() + Math.max(ctx.timeoutMs, 2 * CLEAN_UP_QUIET_MS);
  let discarded = 0;
  let quietSince = Date.now();
  while (Date.now() - quietSince < CLEAN_UP_QUIET_MS && Date.now() < deadline) {
    let found = 0;
    for (const [subscriber, events] of ids) {
      const { rowCount } = await ctx.db.query(
        `UPDATE "${subscriber}".dead_letters SET status = 'discarded', discarded_at = now()
         WHERE consumer = $1 AND event_id = ANY($2) AND status = 'pending'`,
        [subscriber, [...events]],
      );
      found += rowCount ?? 0;
    }
    if (found > 0) quietSince = Date.now();
    discarded += found;
    await delay(500);
  }
  return discarded;
}

/** Runs every probe against the running platform and returns the table. */
export async function runAudit(options: AuditOptions): Promise<AuditReport> {
  const started = Date.now();
  for (const name of options.services ?? []) {
    if (!SEED_ROWS.some((row) => row.service === name)) throw new ConfigurationError('--service', name, `a service of the seed's table: ${SEED_ROWS.map((row) => row.service).join(', ')}`);
  }
  const { urls, transport: registered } = await readInstances(options.db);
  if (urls.size === 0) {
    throw new Error('no running platform found: platform.instances in this database lists no service with a recent heartbeat (start it with npm start or datasync start, and give audit the same --database)');
  }
  const spec = options.transportSpec ?? registered ?? 'postgres';
  const transport = await connectTransport(spec, { databaseUrl: options.databaseUrl });
  let discarded = 0;
  const rows = SEED_ROWS.filter((row) => !options.services || options.services.includes(row.service));
  const cellsTotal = rows.length * COLUMNS.length;
  let cellsDone = 0;
  const ctx: ProbeContext = {
    db: options.db, api: apiFor(urls), transport, running: new Set(urls.keys()), published: [],
    timeoutMs: options.timeoutMs ?? 20_000,
    discard: async (schema, id) => {
      if (await new DeadLetterStore(schema).discard(options.db, id)) discarded += 1;
    },
    settled: (n) => {
      if (n <= 0) return;
      cellsDone += n;
      options.onProgress?.(cellsDone, cellsTotal);
    },
  };
  options.onProgress?.(0, cellsTotal);
  const results = new Array<AuditRow>(rows.length);
  let next = 0;
  let done = 0;
  try {
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, rows.length) }, async () => {
      while (next < rows.length) {
        const index = next++;
        results[index] = await auditRow(rows[index]!, ctx);
        done += 1;
        options.onRow?.(results[index], done, rows.length);
      }
    }));
    discarded += await cleanUpAfterProbes(ctx);
  } finally {
    await transport.close();
  }
  const ok = results.every((row) => COLUMNS.every((column) => row.cells[column].status === 'pass' || row.cells[column].status === 'na'));
  return { rows: results, ok, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, discardedDeadLetters: discarded };
}
