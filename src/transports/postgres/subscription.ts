import { nackDelayOf } from '../argument-checks.js';
import { backoffMs } from '../backoff.js';
import { PullIterator } from '../pull-iterator.js';
import type { Delivery, SubscribeOptions } from '../transport.js';
import { retryUntil, type TransportConnection } from './connection.js';
import { Wakeup } from '../../core/wakeup.js';

/** What a subscription shares with its subscriber. */
export interface SubscriptionHost {
  readonly connection: TransportConnection;
  /** True once the subscriber closed: acks and nacks are ignored from then on. */
  readonly closed: boolean;
  /** Aborted when the subscriber closes: ends waits and retries of acks and nacks. */
  readonly closing: AbortSignal;
  /** Keeps a statement's promise until it settles, so close() can wait for it. */
  track<T>(promise: Promise<T>): Promise<T>;
}

interface FetchedRow {
  readonly held_back: boolean;
  readonly grouped: boolean;
  readonly id: string | null;
  readonly attempt: number | null;
  readonly body: string | null;
  readonly metadata: unknown;
}

/**
 * How long an ack or nack rides out a lost connection (retrying with backoff up to 2 s) before it
 * rejects with ServerUnreachableError; the delivery then comes again once its claim lapses.
 */
export const SETTLE_RETRY_MS = 30_000;
/** Re-read delays while committed rows wait behind an older open transaction (as the relay does). */
const HELD_BACK_POLL = { initialMs: 2, maxMs: 100 };
const ignore = (): void => undefined;

/**
 * One member reading one topic for its group. Pull-driven: each `next()` yields from the buffer,
 * or else runs one fetch statement (see `statements.fetch`): due claims first when the sweep is
 * due, then the next committed rows after the group's offset. When nothing is there it waits for
 * a NOTIFY of its topic, a nack falling due, the sweep or the fallback poll. Failures are retried
 * with backoff (up to 2 s) until the subscription ends; it never throws.
 *
 * Deliveries fetched and not settled are "held": every `keepAliveIntervalMs` their claims are
 * pushed forward, so a slow handler keeps its delivery. Ending the subscription stops that;
 * their claims lapse after `processingTimeoutMs` and another member takes them. Deliveries still
 * in the buffer (never handed out) are released at once.
 */
export class LogSubscription extends PullIterator<Delivery> {
  readonly #host: SubscriptionHost;
  readonly #topic: string;
  readonly #group: string;
  readonly #consumer: string;
  readonly #batchSize: number;
  readonly #buffer: Delivery[] = [];
  /** Message ids fetched and not settled (buffered or handed out): kept alive. */
  readonly #held = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #keepAlive: NodeJS.Timeout;
  readonly #wakeup = new Wakeup();
  readonly #acks: AckBatcher;
  readonly #stopListening: () => void;
  /** The offset row exists and claims an earlier subscription of this consumer left are released. */
  #joined = false;
  #nextSweepAt = 0;
  /** A nack of this subscription fell due: take due claims on the next fetch. */
  #claimsDue = false;
  #failures = 0;
  #heldBackDelay = HELD_BACK_POLL.initialMs;

  constructor(host: SubscriptionHost, topic: string, opts: SubscribeOptions) {
    super();
    this.#host = host;
    this.#topic = topic;
    this.#group = opts.group;
    this.#consumer = opts.consumer;
    this.#batchSize = opts.batchSize ?? host.connection.config.batchSize;
    this.#acks = new AckBatcher(host, opts.group, topic);
    this.#keepAlive = setInterval(() => this.#keepHeldAlive(), host.connection.config.keepAliveIntervalMs);
    this.#stopListening = host.connection.listener.listen(topic, () => this.#wakeup.wake());
    this.endOnAbort(opts.signal);
  }

  /**
   * Deliveries handed out and not settled stay claimed until their claims lapse
   * (`processingTimeoutMs`); those still buffered are released for any member now.
   */
  protected override onEnd(): void {
    this.#stopListening();
    clearInterval(this.#keepAlive);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const buffered = this.#buffer.splice(0).map((delivery) => delivery.id);
    this.#held.clear();
    if (buffered.length > 0) this.#release(buffered);
    this.#wakeup.wake();
  }

  protected override async pull(): Promise<IteratorResult<Delivery>> {
    while (!this.ended) {
      const delivery = this.#buffer.shift();
      if (delivery) return { done: false, value: delivery };
      try {
        await this.#step();
        this.#failures = 0;
      } catch (error) {
        if (this.ended) break;
        this.#host.connection.report(error);
        this.#failures += 1;
        // The statement may have committed with its reply lost: claims this consumer took and
        // does not know of are released again before the next fetch.
        this.#joined = false;
        await this.#wakeup.wait(backoffMs(this.#failures));
      }
    }
    return { done: true, value: undefined };
  }

  /** One fetch; waits when it found nothing. */
  async #step(): Promise<void> {
    const { pool, statements, config } = this.#host.connection;
    if (!this.#joined) {
      await this.#host.track(pool.query({ ...statements.ensureGroup, values: [this.#group, this.#topic] }));
      await this.#host.track(pool.query({ ...statements.releaseOwn, values: [this.#group, this.#topic, this.#consumer, [...this.#held]] }));
      this.#joined = true;
      this.#nextSweepAt = 0;
    }
    const now = Date.now();
    const sweep = this.#claimsDue || now >= this.#nextSweepAt;
    if (sweep) {
      this.#claimsDue = false;
      this.#nextSweepAt = now + config.redeliverIntervalMs;
    }
    this.#wakeup.clear();
    const { rows } = await this.#host.track(
      pool.query<FetchedRow>({ ...statements.fetch, values: [this.#group, this.#topic, this.#consumer, this.#batchSize, config.processingTimeoutMs, sweep] }),
    );
    const first = rows[0];
    if (first && !first.grouped) {
      this.#joined = false; // the offset row vanished (deleted by an operator): create it again
      return;
    }
    const fetched = rows.filter((row) => row.id !== null);
    if (this.ended) {
      if (fetched.length > 0) this.#release(fetched.map((row) => row.id!));
      return;
    }
    for (const row of fetched) {
      this.#held.add(row.id!);
      this.#buffer.push(this.#delivery(row.id!, row.attempt ?? 1, row.body ?? undefined, metadataOf(row.metadata)));
    }
    if (fetched.length > 0) {
      this.#heldBackDelay = HELD_BACK_POLL.initialMs;
      return;
    }
    let delay = Math.min(config.pollIntervalMs, Math.max(1, this.#nextSweepAt - Date.now()));
    if (first?.held_back) {
      delay = Math.min(delay, this.#heldBackDelay);
      this.#heldBackDelay = Math.min(this.#heldBackDelay * 2, HELD_BACK_POLL.maxMs);
    } else {
      this.#heldBackDelay = HELD_BACK_POLL.initialMs;
    }
    await this.#wakeup.wait(delay);
  }

  #delivery(id: string, attempt: number, body: string | undefined, metadata: Readonly<Record<string, string>>): Delivery {
    let settled = false;
    return {
      id,
      topic: this.#topic,
      attempt,
      body,
      metadata,
      ack: async () => {
        if (settled) return;
        settled = true;
        this.#held.delete(id);
        if (this.#host.closed) return;
        await this.#acks.ack(id);
      },
      nack: async (opts) => {
        const delayMs = nackDelayOf(opts);
        if (settled) return;
        settled = true;
        this.#held.delete(id);
        if (this.#host.closed) return;
        const { pool, statements, address } = this.#host.connection;
        const delay = Math.ceil(delayMs);
        const values = [this.#group, this.#topic, id, this.#consumer, delay];
        await this.#host.track(
          retryUntil(() => pool.query({ ...statements.nack, values }), { signal: this.#host.closing, deadline: Date.now() + SETTLE_RETRY_MS, address }),
        );
        // Any member may take it once due; this one looks at that moment rather than at its next sweep.
        this.#after(delay, () => {
          this.#claimsDue = true;
          this.#wakeup.wake();
        });
      },
    };
  }

  #after(ms: number, run: () => void): void {
    if (this.ended) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, ms);
    this.#timers.add(timer);
  }

  /** Makes claims this subscription took but never handed out due at once, for any member. */
  #release(ids: string[]): void {
    const { pool, statements } = this.#host.connection;
    this.#host.track(pool.query({ ...statements.release, values: [this.#group, this.#topic, ids, this.#consumer] })).catch(ignore);
  }

  #keepHeldAlive(): void {
    if (this.#held.size === 0 || this.#host.closed) return;
    const ids = [...this.#held];
    const { pool, statements, config } = this.#host.connection;
    this.#host
      .track(pool.query<{ id: string }>({ ...statements.keepAlive, values: [this.#group, this.#topic, ids, this.#consumer, config.processingTimeoutMs] }))
      .then(({ rows }) => {
        // A claim not pushed forward is another member's now (this process stalled past the
        // timeout), or was settled meanwhile: stop keeping it either way.
        const kept = new Set(rows.map((row) => row.id));
        for (const id of ids) if (!kept.has(id)) this.#held.delete(id);
      }, this.#host.connection.report);
  }
}

/** The transport metadata map of a row: string values of the stored JSON object, else empty. */
function metadataOf(value: unknown): Readonly<Record<string, string>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/**
 * Acks of one subscription, sent as one DELETE per batch: while one batch is on its way, the
 * acks that arrive meanwhile gather for the next. Each `ack()` resolves when its batch committed.
 */
class AckBatcher {
  readonly #host: SubscriptionHost;
  readonly #group: string;
  readonly #topic: string;
  #pending: { id: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  #flushing = false;

  constructor(host: SubscriptionHost, group: string, topic: string) {
    this.#host = host;
    this.#group = group;
    this.#topic = topic;
  }

  ack(id: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ id, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        void this.#host.track(this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const { pool, statements, address } = this.#host.connection;
    // Let the acks of this tick join the first batch.
    await Promise.resolve();
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      const values = [this.#group, this.#topic, batch.map((entry) => entry.id)];
      try {
        // Through a short outage; after close() the acks are dropped.
        const deadline = Date.now() + SETTLE_RETRY_MS;
        await retryUntil(() => pool.query({ ...statements.ack, values }), { signal: this.#host.closing, deadline, address });
        for (const entry of batch) entry.resolve();
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const entry of batch) entry.reject(failure);
      }
    }
    this.#flushing = false;
  }
}
