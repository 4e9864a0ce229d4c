/**
 * What one service of the platform is, to the host that runs it (platform/host/run.ts): its
 * tables, what it consumes (handlers), what it publishes (an outbox and a relay), its HTTP
 * routes, an optional workload, and the probes `datasync audit` runs against it
 * (platform/audit/). Each `platform/services/<name>/index.ts` exports one `module`.
 *
 * The host runs one module alone (`datasync start --service <name>`) or all of them in one
 * process (`npm start`); the module cannot tell the difference: it reaches other services only
 * through events and through `ctx.services.fetch` (their HTTP API).
 */
import type { Hono } from 'hono';
import type { AnyTopic, Topic } from 'datasync/core';
import type { Migration, SqlExecutor, SqlPool } from 'datasync/postgres';
import type { AnySubscription, Producer } from 'datasync/runtime';
import type { CacheProvider } from 'datasync/cache';

/** Another service's HTTP API, wherever it runs (same process or another one). */
export interface ServiceDirectory {
  /** Calls `service`'s route `path` (e.g. `search`, `/search/products/<id>`); rejects naming the service if no instance answers. */
  fetch(service: string, path: string, init?: RequestInit): Promise<Response>;
}

/** What a module gets from the host when it is built. */
export interface ServiceContext {
  /** The platform's database; the service writes only its own schema. */
  readonly pool: SqlPool;
  /** The service's producer (`source` = its name): each write is one transaction with its outbox. */
  readonly producer: Producer;
  /** Opens the service's caches (in-process LRU, or Redis with the service's prefix and DB when `REDIS_URL` is set). */
  readonly cache: CacheProvider;
  /** Other services' HTTP APIs. */
  readonly services: ServiceDirectory;
  /** Background work failed (a workload step, a cache write); the work goes on. */
  readonly onError: (error: unknown) => void;
}

/** The running parts a module builds from its context. */
export interface BuiltService {
  /** The topics it consumes and how (each topic must list the service among its subscribers). */
  readonly handlers?: readonly AnySubscription[];
  /** Its HTTP routes, mounted at the module's `mount`. */
  readonly routes?: Hono;
  /** Releases what the module opened itself. */
  close?(): Promise<void>;
}

/** One service of the platform. */
export interface PlatformModule {
  /** The service name: consumer group, envelope `source`, PostgreSQL schema. */
  readonly name: string;
  /** One line: what it owns and does. */
  readonly summary: string;
  /** Its own tables (datasync's outbox, processed_events and dead_letters come first). */
  readonly migrations: readonly Migration[];
  /** Topics it publishes; any → an outbox relay runs for it. */
  readonly publishes: readonly AnyTopic[];
  /** Where its routes are mounted, e.g. `/catalog`, `/orders`, `/products`. */
  readonly mount?: string;
  /** Builds the running parts. */
  build(ctx: ServiceContext): BuiltService;
  /** How `datasync audit` proves each cell of the seed's table for this service. */
  readonly audit?: ModuleAudit;
}

/** The audit's handle on the running platform's HTTP API. */
export interface AuditApi {
  /** JSON request to the service owning `path` (e.g. `/catalog/products`); resolves with status, headers and the parsed body. */
  request(service: string, method: string, path: string, body?: unknown): Promise<{ status: number; headers: Headers; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Probes of a producer: one real change through the API, whose event a subscriber consumes. */
export interface ProduceProbe {
  /**
   * Makes one change through the service's HTTP API and says which event to look for: the
   * topic, and the partition key of the outbox row it wrote.
   */
  run(api: AuditApi): Promise<{ topic: AnyTopic; key: string }>;
}

/** Probes of a consumer, on one topic it consumes. */
export interface ConsumeProbe<T = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly topic: Topic<T>;
  /**
   * Data of an event the handler applies (fresh ids on every call). May first set up what
   * the event refers to (through the API) and wait until the service has it.
   */
  valid(api: AuditApi): Promise<T>;
  /**
   * Data of a schema-valid event the handler refuses (a business rule or a reference to
   * something unknown), so it ends in the service's dead letters.
   */
  failing(api: AuditApi): Promise<T>;
  /**
   * How many times the effect of the event with this data is in the service's tables (0 before,
   * 1 after it was applied, 2 if it had been applied twice). `db` reads the whole database.
   */
  effects(db: SqlExecutor, data: T): Promise<number>;
}

/** Probe of a cache: read through it, change the data behind it, see the next read rebuilt. */
export interface CacheProbe {
  /**
   * Prepares an entity and returns the path of a cached read of it (served with an `x-cache:
   * hit|miss` header and a body), a change to make elsewhere, and how to tell the read shows it.
   */
  prepare(api: AuditApi): Promise<{
    readonly service: string;
    readonly path: string;
    change(): Promise<void>;
    /** True once the body shows the change. */
    changed(body: any): boolean; // eslint-disable-line @typescript-eslint/no-explicit-any
  }>;
}

/** What the audit runs for one module; absent probes mean the cell is N/A or not verified. */
export interface ModuleAudit {
  readonly produce?: ProduceProbe;
  readonly consume?: ConsumeProbe;
  readonly cache?: CacheProbe;
}
