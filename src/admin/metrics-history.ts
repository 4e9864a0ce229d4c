import { untilAborted } from '../core/abort.js';
import { emptySnapshot, readSnapshot, summarize, type MetricsSnapshot, type MetricsSource, type SyncSummary } from '../observability/snapshot.js';

/**
 * The dashboard's memory of the last minutes: one reading of every metrics source per
 * interval, kept as one summarized point each for `/api/history` (default 10 min), and the raw
 * readings of the last window for `/api/overview`. A reading scrapes every backlog gauge (outbox,
 * dead letters, lag: a few queries per service), so it is taken every second only while someone
 * watches (a request in the last minute, {@link MetricsHistory.watched}) and every 10 s
 * otherwise; each point covers the time since the one before. The timer is unref'd (it never
 * keeps a process alive) and a reading still running skips the next tick. A reading ends within
 * {@link DEFAULT_READING_TIMEOUT_MS}: a source still reading then counts as not answering, and a
 * reading whose list of sources does not come is abandoned, so one stuck process or query never
 * freezes the history; the API answers with the last good reading meanwhile. A process missing
 * from a reading is measured, once back, from its last reading before the gap (as PromQL's `rate`
 * skips a failed scrape), so its events neither vanish nor arrive as a spike.
 */

/** How long one reading may take, ms: a few intervals, longer than a source's own 2 s timeout. */
export const DEFAULT_READING_TIMEOUT_MS = 5_000;

/** One point of `/api/history`: what happened in the interval before `at`. */
export interface HistoryPoint {
  /** Epoch ms. */
  readonly at: number;
  /** Sync latency percentiles of the events applied in the interval, seconds; null when none was. */
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  /** Events published per second, per topic. */
  readonly publishedPerSecond: Readonly<Record<string, number>>;
  /** Deliveries settled per second (applied, duplicate, stale, dead-lettered), every topic and consumer. */
  readonly consumedPerSecond: number;
  /** Events waiting in every outbox. */
  readonly outboxPending: number;
  /** Pending dead letters of every consumer. */
  readonly dlqDepth: number;
}

/** Configuration of {@link MetricsHistory}. */
export interface MetricsHistoryOptions {
  /** The sources of each reading (called at each reading, so they may change). */
  readonly sources: () => Promise<readonly MetricsSource[]> | readonly MetricsSource[];
  /** Milliseconds between readings while watched; default 1,000. */
  readonly intervalMs?: number;
  /** Milliseconds between readings while nobody watches; default 10,000. */
  readonly idleIntervalMs?: number;
  /** How long a request counts as watching, ms; default 60,000. */
  readonly watchMs?: number;
  /** Points kept; default 600 (10 min at one a second). */
  readonly capacity?: number;
  /** Seconds of raw readings kept for windowed summaries; default 10. */
  readonly windowSeconds?: number;
  /** How long one reading may take, ms; default {@link DEFAULT_READING_TIMEOUT_MS}. */
  readonly readingTimeoutMs?: number;
  /** A reading failed as a whole (a source failing alone is part of the reading). */
  readonly onError?: (error: unknown) => void;
}

/** The point of the interval between two readings. */
export function historyPoint(previous: MetricsSnapshot, current: MetricsSnapshot): HistoryPoint {
  const summary = summarize(previous, current);
  const settled = summary.throughput.reduce((total, t) => total + t.consumedPerSecond.applied + t.consumedPerSecond.duplicate + t.consumedPerSecond.stale + t.consumedPerSecond.dead_lettered, 0);
  return {
    at: current.at,
    p50: summary.latency.overall.p50, p95: summary.latency.overall.p95, p99: summary.latency.overall.p99,
    publishedPerSecond: Object.fromEntries(summary.throughput.map((t) => [t.topic, t.publishedPerSecond])),
    consumedPerSecond: settled,
    outboxPending: current.outbox.reduce((total, o) => total + o.pending, 0),
    dlqDepth: current.dlq.reduce((total, d) => total + d.depth, 0),
  };
}

/** Readings taken once an interval; see the file comment. */
export class MetricsHistory {
  readonly #options: MetricsHistoryOptions;
  readonly #capacity: number;
  readonly #windowMs: number;
  readonly #points: HistoryPoint[] = [];
  /** Raw readings of the last window (plus one older), oldest first. */
  readonly #recent: MetricsSnapshot[] = [];
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<MetricsSnapshot> | undefined;
  /** Why the latest reading failed as a whole, while there is no good one to show. */
  #failure: MetricsSnapshot | undefined;
  #watchedAt = -Infinity;
  #closed = false;

  constructor(options: MetricsHistoryOptions) {
    this.#options = options;
    this.#capacity = options.capacity ?? 600;
    this.#windowMs = (options.windowSeconds ?? 10) * 1_000;
  }

  /** Takes a first reading now and then one every interval. Idempotent. */
  start(): void {
    if (this.#timer || this.#closed) return;
    const intervalMs = this.#options.intervalMs ?? 1_000;
    this.#timer = setInterval(() => {
      const now = Date.now();
      const age = now - (this.#recent.at(-1)?.at ?? -Infinity);
      const watched = now - this.#watchedAt < (this.#options.watchMs ?? 60_000);
      // half an interval of slack: a tick a few ms early is not skipped, and one just after a
      // reading a request asked for does not make a point of a few ms
      const due = age >= (watched ? intervalMs : (this.#options.idleIntervalMs ?? 10_000)) - intervalMs / 2;
      if (!this.#reading && due) this.sample().catch(() => undefined); // reported by #read
    }, intervalMs);
    this.#timer.unref();
    this.sample().catch(() => undefined);
  }

  /**
   * Someone looks: readings are taken every interval for the next minute, and a reading more
   * than an interval old is renewed now. Resolves when the readings are current, or when the
   * renewal failed (reported to `onError`; the last good reading stays).
   */
  async watched(): Promise<void> {
    this.#watchedAt = Date.now();
    const latest = this.#recent.at(-1);
    if (!latest || Date.now() - latest.at >= (this.#options.intervalMs ?? 1_000)) await this.sample().catch(() => undefined);
  }

  /**
   * Takes one reading now (joining one already running) and records it. Rejects when the
   * reading is abandoned (its sources were not listed in time) or fails as a whole; the next
   * call starts a new one.
   */
  sample(): Promise<MetricsSnapshot> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #read(): Promise<MetricsSnapshot> {
    const timeoutMs = this.#options.readingTimeoutMs ?? DEFAULT_READING_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const sources = await untilAborted(Promise.resolve().then(() => this.#options.sources()), signal).catch((error: unknown) => {
        throw signal.aborted ? new Error(`listing the metrics sources took longer than ${timeoutMs} ms; the reading was abandoned`, { cause: error }) : error;
      });
      // ends once `signal` aborts: a source still reading then counts as not answering in time
      const snapshot = await readSnapshot(sources, { signal });
      this.#record(snapshot);
      return snapshot;
    } catch (error) {
      this.#failure = { ...emptySnapshot(), failed: [{ source: 'every source', error: error instanceof Error ? error.message : String(error) }] };
      this.#options.onError?.(error);
      throw error;
    }
  }

  #record(snapshot: MetricsSnapshot): void {
    if (this.#closed) return;
    this.#failure = undefined;
    const previous = this.#recent.at(-1);
    if (previous) {
      // a source missing from the previous reading is measured from its latest reading before
      this.#points.push(historyPoint(withSourcesFrom(previous, this.#recent.slice(0, -1).reverse()), snapshot));
      if (this.#points.length > this.#capacity) this.#points.splice(0, this.#points.length - this.#capacity);
    }
    this.#recent.push(snapshot);
    // keep the newest reading at or before the window's start, and everything after it
    while (this.#recent.length > 2 && this.#recent[1]!.at <= snapshot.at - this.#windowMs) this.#recent.shift();
  }

  /** The points of the last `seconds`, oldest first. */
  points(seconds: number, now: number = Date.now()): HistoryPoint[] {
    const since = now - seconds * 1_000;
    return this.#points.filter((point) => point.at > since);
  }

  /**
   * Rates and latency over about the last window (from the newest reading at least a window
   * old, or the oldest one kept, to the latest), taking a first reading when there is none yet.
   */
  async summary(): Promise<SyncSummary> {
    const latest = this.#recent.at(-1) ?? (await this.#firstReading());
    const oldest = this.#recent[0] ?? latest;
    // with one reading the window is empty: rates 0, latency unknown (not every event since start);
    // a source missing from the oldest reading is measured from its first reading after it
    return summarize(withSourcesFrom(oldest, this.#recent.slice(1, -1)), latest);
  }

  /** The latest reading, taking one when there is none yet. */
  async latest(): Promise<MetricsSnapshot> {
    return this.#recent.at(-1) ?? this.#firstReading();
  }

  /** A first reading, or, when it fails, an empty one that says why. */
  async #firstReading(): Promise<MetricsSnapshot> {
    if (this.#failure && !this.#reading) return this.#failure;
    try {
      return await this.sample();
    } catch {
      return this.#failure ?? emptySnapshot();
    }
  }

  /** Stops the timer; the points stay readable. Idempotent. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** `base`, with each source it lacks taken from the first of `others` that has it. */
function withSourcesFrom(base: MetricsSnapshot, others: readonly MetricsSnapshot[]): MetricsSnapshot {
  const bySource = new Map(base.bySource);
  for (const other of others) {
    for (const [name, counters] of other.bySource) if (!bySource.has(name)) bySource.set(name, counters);
  }
  return bySource.size === base.bySource.size ? base : { ...base, bySource };
}
