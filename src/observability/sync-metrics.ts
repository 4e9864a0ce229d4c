import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CloudEvent } from '../core/envelope.js';
import { DeadLetterStore } from '../postgres/dead-letter-store.js';
import { outboxBacklog } from '../postgres/outbox-admin.js';
import type { SqlExecutor } from '../postgres/sql.js';
import { metricsRegistry } from './metrics.js';

/**
 * The sync metrics of DESIGN.md section 3, in base units, on one prom-client registry.
 * Counters and the latency histogram are recorded as events settle; backlog gauges (outbox,
 * dead letters, lag) are read from their sources at scrape time, at most once a second, so a
 * dashboard polling every second and Prometheus scraping together cost one read.
 * No label holds an entity id: labels are topic, service, consumer, outcome, circuit and cache
 * names, all bounded by the deployment's topology.
 */

/** Sync latency buckets, seconds: 1 ms to 5 s, dense around the 500 ms SLA. */
export const SYNC_LATENCY_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);

/** How one delivery ended, as `datasync_events_consumed_total{outcome}` counts it (a retry is counted per retried attempt). */
export type ConsumedOutcome = 'applied' | 'duplicate' | 'stale' | 'retried' | 'dead_lettered';

/** State of a circuit breaker, as `datasync_circuit_state` reports it: 0 closed, 1 half-open, 2 open. */
export type CircuitStateName = 'closed' | 'half_open' | 'open';

const CIRCUIT_STATE_VALUE: Readonly<Record<CircuitStateName, number>> = { closed: 0, half_open: 1, open: 2 };

/** What the metrics need of a settled delivery (the consumer's `SettledInfo` is one). */
export interface SettledDelivery {
  readonly topic: string;
  readonly event?: CloudEvent;
  readonly outcome: 'applied' | 'duplicate' | 'stale' | 'dead_lettered';
  /** When the consumer's transaction committed, epoch ms. */
  readonly committedAtMs: number;
}

/** What the cache metrics need of a cache (every `datasync/cache` cache is one). */
export interface CountedCache {
  readonly name: string;
  stats(): { readonly hits: number; readonly misses: number; readonly invalidations: number };
}

/** Reads the lag of one consumer group on a topic; undefined when the broker does not know it yet. */
export type LagReader = (topic: string, group: string) => Promise<number | undefined>;

/** Stops a watch started by one of the `watch…` methods. Idempotent. */
export type Unwatch = () => void;

/** Backlog sources are read at most this often; a scrape in between reuses the last reading. */
const COLLECT_INTERVAL_MS = 1_000;

/** A backlog source that has not answered after this long is left out of the scrape (and counted as failed). */
const SOURCE_TIMEOUT_MS = 2_000;

const instances = new WeakMap<Registry, SyncMetrics>();

/** One deployment's sync metrics on one registry. Get it with {@link SyncMetrics.for}. */
export class SyncMetrics {
  readonly registry: Registry;
  readonly #latency: Histogram<'topic' | 'consumer'>;
  readonly #published: Counter<'topic' | 'service'>;
  readonly #consumed: Counter<'topic' | 'consumer' | 'outcome'>;
  readonly #collectErrors: Counter<'source'>;
  /** topic\0consumer → epoch ms of the newest applied event's time. */
  readonly #newest = new Map<string, { topic: string; consumer: string; eventTimeMs: number }>();
  /** Consumer name → running consumers of that name in this process (see {@link watchConsumer}). */
  readonly #running = new Map<string, number>();
  readonly #outboxes = new Map<symbol, { service: string; db: SqlExecutor }>();
  readonly #deadLetters = new Map<symbol, { consumer: string; schema: string; db: SqlExecutor }>();
  readonly #lags = new Map<symbol, { consumer: string; topics: readonly string[]; read: LagReader }>();
  readonly #circuits = new Map<symbol, { circuit: string; state: () => CircuitStateName }>();
  readonly #caches = new Map<symbol, { cache: string; source: CountedCache }>();
  /** Counts of caches no longer watched, per cache label. */
  readonly #closedCaches = new Map<string, { hits: number; misses: number; invalidations: number }>();
  #backlog: { at: number; reading: Promise<BacklogReading> } | undefined;

  /** The metrics of `registry` (default datasync's {@link metricsRegistry}), created on first use. */
  static for(registry: Registry = metricsRegistry): SyncMetrics {
    let metrics = instances.get(registry);
    if (!metrics) {
      metrics = new SyncMetrics(registry);
      instances.set(registry, metrics);
    }
    return metrics;
  }

  private constructor(registry: Registry) {
    this.registry = registry;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client calls collect() with the metric as `this`
    const self = this;
    const registers = [registry];
    this.#latency = new Histogram({
      name: 'datasync_sync_latency_seconds',
      help: "Seconds from the owner's event (written in its transaction) to the consumer's commit of its effect; applied events only",
      labelNames: ['topic', 'consumer'] as const, buckets: [...SYNC_LATENCY_BUCKETS], registers,
    });
    this.#published = new Counter({
      name: 'datasync_events_published_total',
      help: 'Events a relay published and the broker acknowledged, per topic and publishing service',
      labelNames: ['topic', 'service'] as const, registers,
    });
    this.#consumed = new Counter({
      name: 'datasync_events_consumed_total',
      help: 'Deliveries a consumer settled, per outcome (applied, duplicate, stale, dead_lettered); retried counts attempts retried',
      labelNames: ['topic', 'consumer', 'outcome'] as const, registers,
    });
    this.#collectErrors = new Counter({
      name: 'datasync_metrics_collect_errors_total',
      help: 'Readings of a backlog source (outbox, dead letters, lag) that failed at scrape time; its series is left out of that scrape',
      labelNames: ['source'] as const, registers,
      // counts the failures of this scrape's own reading too
      async collect() { await self.#readBacklog(); },
    });
    new Gauge({
      name: 'datasync_outbox_pending', help: 'Committed outbox events no relay has published yet, per owner service',
      labelNames: ['service'] as const, registers,
      async collect() { const { outboxes } = await self.#readBacklog(); this.reset(); for (const o of outboxes) this.set({ service: o.service }, o.pending); },
    });
    new Gauge({
      name: 'datasync_outbox_oldest_age_seconds', help: 'Age of the oldest unpublished outbox event (0 when none), per owner service',
      labelNames: ['service'] as const, registers,
      async collect() { const { outboxes } = await self.#readBacklog(); this.reset(); for (const o of outboxes) this.set({ service: o.service }, o.oldestAgeSeconds); },
    });
    new Gauge({
      name: 'datasync_dlq_depth', help: 'Dead letters waiting for a replay or discard, per consuming service',
      labelNames: ['consumer'] as const, registers,
      async collect() { const { deadLetters } = await self.#readBacklog(); this.reset(); for (const d of deadLetters) this.set({ consumer: d.consumer }, d.depth); },
    });
    new Gauge({
      name: 'datasync_consumer_lag', help: "Events on a topic the consumer group has not had acknowledged yet, as the broker counts them",
      labelNames: ['topic', 'consumer'] as const, registers,
      async collect() { const { lags } = await self.#readBacklog(); this.reset(); for (const l of lags) this.set({ topic: l.topic, consumer: l.consumer }, l.lag); },
    });
    new Gauge({
      name: 'datasync_data_freshness_seconds',
      help: "Age of the newest change a consumer applied to its read model (now minus that event's time), per topic",
      labelNames: ['topic', 'consumer'] as const, registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const n of self.#newest.values()) this.set({ topic: n.topic, consumer: n.consumer }, Math.max(0, (now - n.eventTimeMs) / 1_000));
      },
    });
    new Gauge({
      name: 'datasync_circuit_state', help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
      labelNames: ['circuit'] as const, registers,
      collect() { this.reset(); for (const c of self.#circuits.values()) this.set({ circuit: c.circuit }, CIRCUIT_STATE_VALUE[c.state()]); },
    });
    const cacheCounter = (field: 'hits' | 'misses' | 'invalidations', help: string): void => {
      new Counter({
        name: `datasync_cache_${field}_total`, help, labelNames: ['cache'] as const, registers,
        collect() {
          // the caches count; the counter mirrors them, plus what caches closed since had counted, so it never goes down
          this.reset();
          for (const [cache, totals] of self.#closedCaches) this.inc({ cache }, totals[field]);
          for (const c of self.#caches.values()) this.inc({ cache: c.cache }, c.source.stats()[field]);
        },
      });
    };
    cacheCounter('hits', 'Cache reads answered from the cache, per cache (service/name)');
    cacheCounter('misses', 'Cache reads that had to load from the source, per cache (service/name)');
    cacheCounter('invalidations', 'Cache entries dropped because a newer change was seen, per cache (service/name)');
  }

  /** Records a settled delivery: outcome, and for an applied event its sync latency and the consumer's freshness. */
  recordSettled(consumer: string, delivery: SettledDelivery): void {
    this.#consumed.inc({ topic: delivery.topic, consumer, outcome: delivery.outcome });
    if (delivery.outcome !== 'applied' || !delivery.event) return;
    const eventTimeMs = Date.parse(delivery.event.time);
    if (!Number.isFinite(eventTimeMs)) return;
    this.#latency.observe({ topic: delivery.topic, consumer }, Math.max(0, delivery.committedAtMs - eventTimeMs) / 1_000);
    const key = `${delivery.topic}\u0000${consumer}`;
    const newest = this.#newest.get(key);
    if (!newest) this.#newest.set(key, { topic: delivery.topic, consumer, eventTimeMs });
    else if (eventTimeMs > newest.eventTimeMs) newest.eventTimeMs = eventTimeMs;
  }

  /** Counts an attempt that failed and is tried again. */
  recordRetry(consumer: string, topic: string): void {
    this.#consumed.inc({ topic, consumer, outcome: 'retried' });
  }

  /** Counts events of `topic` the broker acknowledged for `service`'s relay. */
  recordPublished(service: string, topic: string, count: number): void {
    this.#published.inc({ topic, service }, count);
  }

  /**
   * Marks a consumer of this name running; the returned Unwatch marks it stopped, and once no
   * consumer of that name runs here any more its freshness series go (a copy nobody updates
   * here is not this process's to report).
   */
  watchConsumer(consumer: string): Unwatch {
    this.#running.set(consumer, (this.#running.get(consumer) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.#running.get(consumer) ?? 1) - 1;
      if (left > 0) {
        this.#running.set(consumer, left);
        return;
      }
      this.#running.delete(consumer);
      for (const [key, entry] of this.#newest) if (entry.consumer === consumer) this.#newest.delete(key);
    };
  }

  /** Reports `service`'s outbox backlog (pending events, oldest age) from `db` at each scrape. */
  watchOutbox(service: string, db: SqlExecutor): Unwatch {
    return this.#watch(this.#outboxes, { service, db });
  }

  /** Reports the pending dead letters of `consumer`, stored in `schema`, at each scrape. */
  watchDeadLetters(consumer: string, schema: string, db: SqlExecutor): Unwatch {
    return this.#watch(this.#deadLetters, { consumer, schema, db });
  }

  /** Reports the lag of group `consumer` on each of `topics` at each scrape. */
  watchLag(consumer: string, topics: readonly string[], read: LagReader): Unwatch {
    return this.#watch(this.#lags, { consumer, topics, read });
  }

  /** Reports a circuit breaker's state at each scrape. */
  watchCircuit(circuit: string, state: () => CircuitStateName): Unwatch {
    return this.#watch(this.#circuits, { circuit, state });
  }

  /** Reports a cache's hits, misses and invalidations under `cache` (e.g. "gateway/products"). */
  watchCache(cache: string, source: CountedCache): Unwatch {
    const unwatch = this.#watch(this.#caches, { cache, source });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      unwatch();
      const { hits, misses, invalidations } = source.stats();
      const closed = this.#closedCaches.get(cache) ?? { hits: 0, misses: 0, invalidations: 0 };
      this.#closedCaches.set(cache, { hits: closed.hits + hits, misses: closed.misses + misses, invalidations: closed.invalidations + invalidations });
    };
  }

  #watch<T>(map: Map<symbol, T>, entry: T): Unwatch {
    const key = Symbol('watch');
    map.set(key, entry);
    this.#backlog = undefined;
    return () => {
      if (map.delete(key)) this.#backlog = undefined;
    };
  }

  /** One reading of every backlog source, shared by the gauges of one scrape (and scrapes within a second). */
  #readBacklog(): Promise<BacklogReading> {
    const now = Date.now();
    if (!this.#backlog || now - this.#backlog.at >= COLLECT_INTERVAL_MS) this.#backlog = { at: now, reading: this.#read() };
    return this.#backlog.reading;
  }

  async #read(): Promise<BacklogReading> {
    const failed = (source: string) => (): undefined => { this.#collectErrors.inc({ source }); return undefined; };
    const timed = <T>(reading: Promise<T>): Promise<T> => withTimeout(reading, SOURCE_TIMEOUT_MS);
    const [outboxes, deadLetters, lags] = await Promise.all([
      Promise.all(dedupe([...this.#outboxes.values()], (o) => o.service).map(async ({ service, db }) => {
        const backlog = await timed(outboxBacklog(db, service)).catch(failed('outbox'));
        return backlog && { service, pending: backlog.pending, oldestAgeSeconds: backlog.oldestPendingAgeSeconds };
      })),
      Promise.all(dedupe([...this.#deadLetters.values()], (d) => d.consumer).map(async ({ consumer, schema, db }) => {
        const depth = await timed(new DeadLetterStore(schema).depth(db)).catch(failed('dead_letters'));
        return depth && { consumer, depth: depth.filter((d) => d.consumer === consumer).reduce((sum, d) => sum + d.count, 0) };
      })),
      Promise.all(dedupe([...this.#lags.values()].flatMap((l) => l.topics.map((topic) => ({ ...l, topic }))), (l) => `${l.topic}\u0000${l.consumer}`)
        .map(async ({ consumer, topic, read }) => {
          const lag = await timed(read(topic, consumer)).catch(failed('lag'));
          return lag === undefined ? undefined : { consumer, topic, lag };
        })),
    ]);
    return { outboxes: outboxes.filter(isDefined), deadLetters: deadLetters.filter(isDefined), lags: lags.filter(isDefined) };
  }
}

interface BacklogReading {
  readonly outboxes: readonly { service: string; pending: number; oldestAgeSeconds: number }[];
  readonly deadLetters: readonly { consumer: string; depth: number }[];
  readonly lags: readonly { consumer: string; topic: string; lag: number }[];
}

/** The first entry of each key: several instances of one service in a process report its backlog once. */
function dedupe<T>(entries: readonly T[], key: (entry: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const entry of entries) if (!seen.has(key(entry))) seen.set(key(entry), entry);
  return [...seen.values()];
}

/** `promise`, or a rejection once `ms` passed (the work itself goes on; its result is dropped). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}
