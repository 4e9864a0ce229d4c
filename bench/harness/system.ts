import type { SqlExecutor } from '../../src/postgres/sql.js';

/** The systems the bench can measure. */
export const SYSTEM_NAMES = ['datasync', 'baseline'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/**
 * Everything one measured run needs to find its servers and its own state. Every
 * run gets a fresh `runTag`, so fresh schemas and fresh Redis streams: runs never
 * see each other's rows or entries.
 */
export interface BenchContext {
  readonly runTag: string;
  /** PostgreSQL URL (127.0.0.1 only). */
  readonly postgresUrl: string;
  /** Redis URL (127.0.0.1 only). */
  readonly redisUrl: string;
  /** The owner service's schema: its `products` table and its outbox. */
  readonly ownerSchema: string;
  /** The consumer service's schema: its read model (and, for datasync, its processed_events). */
  readonly readerSchema: string;
  /** Topic name; also the Redis stream key (DESIGN.md section 3: one stream per topic). */
  readonly topic: string;
  /** `application_name` of every bench connection, to find them in pg_stat_activity. */
  readonly applicationName: string;
  /** System-specific knobs from the command line. */
  readonly options: {
    readonly datasyncConcurrency?: number;
    readonly datasyncNotify: DatasyncNotify;
    readonly datasyncRelayPollMs?: number;
  };
}

/** The event data every system carries: the product row after the change, plus timing. */
export interface ProductEvent {
  readonly id: string;
  readonly name: string;
  readonly priceCents: number;
  /** The owner's row version after this change (1, 2, …); read models apply only if newer. */
  readonly version: number;
  /** Position in the run's schedule, 0-based; unique per event. */
  readonly seq: number;
  /** When the schedule meant this event to be sent, epoch ms on the bench clock. */
  readonly intendedAtMs: number;
}

/** Writes one event into the owner's outbox inside the owner's transaction. */
/** How the datasync owner wakes its relay: after commit (as createProducer does), inside the transaction, or not at all. */
export type DatasyncNotify = 'after-commit' | 'in-transaction' | 'off';

export interface OutboxAppender {
  append(tx: SqlExecutor, event: ProductEvent): Promise<void>;
  /** Called after the owner's transaction that appended committed. */
  committed?(): void;
  close(): Promise<void>;
}

/** Called by a consumer right after the transaction that applied `event` committed. */
export type OnCommitted = (event: ProductEvent, committedAtMs: number) => void;

/** Something started that must be stopped. `close()` is idempotent. */
export interface Stoppable {
  close(): Promise<void>;
}

/**
 * One system measured end to end. `setup`/`teardown` run in the bench's parent
 * process; `openOutbox`, `startRelay` and `startConsumer` each run in their own
 * child process (producer, relay, consumer), so no event loop bounds another.
 * The producer's domain write (the owner's `products` row) is the same for every
 * system; only the outbox, relay and consumer differ.
 */
export interface SystemUnderTest {
  readonly name: SystemName;
  /** Creates the run's schemas, tables, streams and consumer groups. */
  setup(ctx: BenchContext): Promise<void>;
  /** Drops everything `setup` made (schemas and Redis keys of `ctx.runTag`). */
  teardown(ctx: BenchContext): Promise<void>;
  /** Producer side: the outbox write of one event. */
  openOutbox(ctx: BenchContext): Promise<OutboxAppender>;
  /** Relay side: publishes committed outbox rows to Redis until closed. */
  startRelay(ctx: BenchContext): Promise<Stoppable>;
  /** Consumer side: applies events to the read model, calling `onCommitted` per event after commit. */
  startConsumer(ctx: BenchContext, onCommitted: OnCommitted): Promise<Stoppable>;
}

/**
 * Loads a system by name. Imported lazily so that `--system baseline` runs even
 * while a module the datasync adapter needs is missing or broken.
 */
export async function loadSystem(name: SystemName): Promise<SystemUnderTest> {
  switch (name) {
    case 'baseline':
      return (await import('../baseline/index.js')).baselineSystem;
    case 'datasync':
      return (await import('../datasync/index.js')).datasyncSystem;
  }
}
