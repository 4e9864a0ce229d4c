import type { SqlExecutor } from '../../src/postgres/sql.js';
import type { TransportName, TransportSpec } from '../../src/transports/connect.js';

/** The systems the bench can measure. */
export const SYSTEM_NAMES = ['datasync', 'baseline'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** The consuming service of every system (the consumer group on the broker): a search read model. */
export const CONSUMER_GROUP = 'search';

/**
 * One system as measured: datasync runs once per selected transport, each under its own
 * label (`datasync/nats-jetstream`); the baseline always moves events through Redis
 * Streams with its own code, under the label `baseline`.
 */
export interface MeasuredSystem {
  /** The name in logs and the key in the result JSON. */
  readonly label: string;
  readonly system: SystemName;
  /** The broker the events travel through. */
  readonly transport: TransportName;
}

/**
 * The systems a run measures, in run order: datasync once per transport (in the order
 * given), then the baseline, each only when `systems` selects it.
 */
export function measuredSystems(systems: readonly SystemName[], transports: readonly TransportName[]): MeasuredSystem[] {
  const measured: MeasuredSystem[] = [];
  for (const system of SYSTEM_NAMES) {
    if (!systems.includes(system)) continue;
    if (system === 'baseline') measured.push({ label: 'baseline', system, transport: 'redis-streams' });
    else for (const transport of transports) measured.push({ label: `datasync/${transport}`, system, transport });
  }
  return measured;
}

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
  /** NATS URL (127.0.0.1 only), for the `nats-jetstream` transport. */
  readonly natsUrl: string;
  /** AMQP URL (127.0.0.1 only), for the `rabbitmq` transport. */
  readonly amqpUrl: string;
  /** The broker datasync's relay and consumer use in this run (see {@link transportSpecOf}). */
  readonly transport: TransportName;
  /** The owner service's schema: its `products` table and its outbox. */
  readonly ownerSchema: string;
  /** The consumer service's schema: its read model (and, for datasync, its processed_events). */
  readonly readerSchema: string;
  /** Topic name, containing `runTag`; the Redis stream key (DESIGN.md section 3: one stream per topic). */
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

/**
 * The `connectTransport` spec of the run's transport: the Redis, NATS or AMQP URL, or
 * `postgres` (the PostgreSQL transport on the bench's database, passed as `databaseUrl`).
 */
export function transportSpecOf(ctx: Pick<BenchContext, 'transport' | 'redisUrl' | 'natsUrl' | 'amqpUrl'>): TransportSpec {
  switch (ctx.transport) {
    case 'redis-streams':
      return ctx.redisUrl;
    case 'nats-jetstream':
      return ctx.natsUrl;
    case 'rabbitmq':
      return ctx.amqpUrl;
    case 'postgres':
      return 'postgres';
  }
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

/** How the datasync owner wakes its relay: after commit (as createProducer does), inside the transaction, or not at all. */
export type DatasyncNotify = 'after-commit' | 'in-transaction' | 'off';

/** Writes one event into the owner's outbox inside the owner's transaction. */
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
  /** Drops everything `setup` and the run made (schemas, Redis keys of `ctx.runTag`, the transport's broker state). */
  teardown(ctx: BenchContext): Promise<void>;
  /** Producer side: the outbox write of one event. */
  openOutbox(ctx: BenchContext): Promise<OutboxAppender>;
  /** Relay side: publishes committed outbox rows to the run's broker until closed. */
  startRelay(ctx: BenchContext): Promise<Stoppable>;
  /**
   * Consumer side: applies events to the read model, calling `onCommitted` per event after
   * commit. Resolves once the consumer's subscription exists on the broker, so events the
   * relay publishes afterwards reach it even on a broker that does not replay to later groups.
   */
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
