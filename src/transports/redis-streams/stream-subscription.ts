import type { Redis } from 'ioredis';
import { nackDelayOf } from '../argument-checks.js';
import { backoffMs } from '../backoff.js';
import { metadataFromJson } from '../metadata-map.js';
import { PullIterator } from '../pull-iterator.js';
import type { Delivery, SubscribeOptions } from '../transport.js';
import type { ResolvedRedisStreamsConfig } from './config.js';
import { entriesOf, entriesOfRead, fieldOf, isNoGroupError, type StreamEntry } from './stream-entries.js';

/** What a subscription shares with its subscriber. */
export interface SubscriptionHost {
  readonly config: ResolvedRedisStreamsConfig;
  /** The subscriber's non-blocking, auto-pipelined connection. */
  readonly commands: Redis;
  /** True once the subscriber closed: acks are ignored from then on. */
  readonly closed: boolean;
  /** Keeps a command's promise until it settles, so close() can wait for it. */
  track<T>(promise: Promise<T>): Promise<T>;
}

interface NackedEntry {
  readonly id: string;
  readonly attempt: number;
  readonly dueAt: number;
}

const ignore = (): void => undefined;

/**
 * One member reading one topic stream for its group. Pull-driven: each `next()` yields
 * from the buffer, or else does one step: create the group, re-read this consumer's own
 * pending entries, redeliver nacked entries that fell due, claim idle entries of dead
 * members (every redeliverInterval), or wait on a blocking XREADGROUP. Redis errors are
 * retried with backoff until the subscription ends.
 */
export class StreamSubscription extends PullIterator<Delivery> {
  readonly #host: SubscriptionHost;
  readonly #topic: string;
  readonly #group: string;
  readonly #consumer: string;
  readonly #batchSize: number;
  readonly #buffer: Delivery[] = [];
  /** Entries buffered, yielded and not settled, or waiting out a nack delay: kept alive. */
  readonly #held = new Set<string>();
  readonly #nacked: NackedEntry[] = [];
  readonly #nackTimers = new Set<NodeJS.Timeout>();
  readonly #keepAlive: NodeJS.Timeout;
  #blocking: Redis | undefined;
  #grouped = false;
  /** Where the re-read of this consumer's own pending entries continues; undefined once done. */
  #historyFrom: string | undefined = '0';
  #claimCursor = '0-0';
  #nextClaimAt = 0;
  #reading = false;
  #readFailure: Error | undefined;
  #failures = 0;

  constructor(host: SubscriptionHost, topic: string, opts: SubscribeOptions) {
    super();
    this.#host = host;
    this.#topic = topic;
    this.#group = opts.group;
    this.#consumer = opts.consumer;
    this.#batchSize = opts.batchSize ?? host.config.batchSize;
    this.#keepAlive = setInterval(() => this.#keepHeldAlive(), host.config.keepAliveIntervalMs);
    this.endOnAbort(opts.signal);
  }

  /** Entries not acked stay pending in Redis for redelivery. */
  protected override onEnd(): void {
    clearInterval(this.#keepAlive);
    for (const timer of this.#nackTimers) clearTimeout(timer);
    this.#nackTimers.clear();
    this.#buffer.length = 0;
    this.#held.clear();
    // Interrupts a blocking XREADGROUP instead of waiting it out.
    this.#blocking?.disconnect();
  }

  protected override async pull(): Promise<IteratorResult<Delivery>> {
    while (!this.ended) {
      const delivery = this.#buffer.shift();
      if (delivery) return { done: false, value: delivery };
      try {
        await this.#step();
      } catch (error) {
        if (this.ended) break;
        if (isNoGroupError(error)) this.#grouped = false;
        this.#failures += 1;
        await this.sleep(backoffMs(this.#failures));
      }
    }
    return { done: true, value: undefined };
  }

  async #step(): Promise<void> {
    const now = Date.now();
    if (!this.#grouped) await this.#createGroup();
    else if (this.#historyFrom !== undefined) await this.#readHistory(this.#historyFrom);
    else if (this.#nacked.length > 0 && this.#nacked[0]!.dueAt <= now) await this.#redeliverNacked(now);
    else if (now >= this.#nextClaimAt) await this.#claimIdle();
    else await this.#readNew(now);
  }

  async #createGroup(): Promise<void> {
    try {
      // From 0, as Dapr does: a group created after events were published still gets them.
      await this.#host.commands.call('XGROUP', ['CREATE', this.#topic, this.#group, '0', 'MKSTREAM']);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
    }
    this.#grouped = true;
    this.#failures = 0;
  }

  /** Entries this consumer name took before a restart and never acked. */
  async #readHistory(from: string): Promise<void> {
    const reply = await this.#host.commands.call('XREADGROUP', ['GROUP', this.#group, this.#consumer, 'COUNT', this.#batchSize, 'STREAMS', this.#topic, from]);
    const entries = entriesOfRead(reply);
    this.#historyFrom = entries.length === 0 ? undefined : entries[entries.length - 1]!.id;
    await this.#enqueueRedelivered(entries);
    this.#failures = 0;
  }

  async #redeliverNacked(now: number): Promise<void> {
    const due: NackedEntry[] = [];
    while (due.length < this.#batchSize && this.#nacked.length > 0 && this.#nacked[0]!.dueAt <= now) due.push(this.#nacked.shift()!);
    let reply: unknown;
    try {
      // XCLAIM without JUSTID counts the delivery in Redis too, and returns nothing for a deleted entry.
      reply = await this.#host.commands.call('XCLAIM', [this.#topic, this.#group, this.#consumer, 0, ...due.map((e) => e.id)]);
    } catch (error) {
      this.#nacked.unshift(...due);
      throw error;
    }
    for (const entry of due) this.#held.delete(entry.id);
    const attempts = new Map(due.map((e) => [e.id, e.attempt]));
    this.#enqueue(entriesOf(reply), (id) => attempts.get(id) ?? 2);
    this.#failures = 0;
  }

  /** Takes over entries idle past processingTimeout: their member died or hangs without keep-alive. */
  async #claimIdle(): Promise<void> {
    const { commands, config } = this.#host;
    this.#nextClaimAt = Date.now() + config.redeliverIntervalMs;
    const reply = (await commands.call('XAUTOCLAIM', [this.#topic, this.#group, this.#consumer, config.processingTimeoutMs, this.#claimCursor, 'COUNT', this.#batchSize])) as unknown[];
    const [cursor, claimed, deleted] = reply as [string, unknown, string[] | undefined];
    this.#claimCursor = cursor;
    if (cursor !== '0-0') this.#nextClaimAt = 0; // more to scan: continue on the next pull
    if (deleted && deleted.length > 0) this.#ackQuietly(deleted);
    await this.#enqueueRedelivered(entriesOf(claimed));
    this.#failures = 0;
  }

  async #readNew(now: number): Promise<void> {
    if (this.#readFailure !== undefined) {
      const failure = this.#readFailure;
      this.#readFailure = undefined;
      throw failure;
    }
    if (!this.#reading) this.#startRead(now);
    // Woken by the read's reply, a nack falling due, or end(); the timeout is only a safety net.
    await this.sleep(this.#host.config.blockMs * 2);
  }

  #startRead(now: number): void {
    const { config } = this.#host;
    let blockMs = Math.min(config.blockMs, this.#nextClaimAt - now);
    if (this.#nacked.length > 0) blockMs = Math.min(blockMs, this.#nacked[0]!.dueAt - now);
    this.#blocking ??= this.#openBlockingConnection();
    this.#reading = true;
    this.#blocking
      .call('XREADGROUP', ['GROUP', this.#group, this.#consumer, 'COUNT', this.#batchSize, 'BLOCK', Math.max(1, blockMs), 'STREAMS', this.#topic, '>'])
      .then(
        (reply) => {
          this.#reading = false;
          this.#failures = 0;
          this.#enqueue(entriesOfRead(reply), () => 1);
          this.wake();
        },
        (error: unknown) => {
          this.#reading = false;
          // Redis may have delivered entries whose reply was lost: re-read this consumer's own pending ones.
          this.#historyFrom = '0';
          this.#readFailure = error instanceof Error ? error : new Error(String(error));
          this.wake();
        },
      );
  }

  #openBlockingConnection(): Redis {
    const connection = this.#host.commands.duplicate({ enableAutoPipelining: false });
    connection.on('error', ignore);
    return connection;
  }

  /** Enqueues entries that were delivered before, with their delivery count (from XPENDING) as attempt. */
  async #enqueueRedelivered(entries: StreamEntry[]): Promise<void> {
    const live = entries.filter((e) => e.fields !== null && !this.#held.has(e.id));
    const counts = await Promise.all(
      // A failed count only lowers the attempt number reported; the entry is claimed already.
      live.map((e) => (this.#host.commands.call('XPENDING', [this.#topic, this.#group, e.id, e.id, 1]) as Promise<[string, string, number, number][]>).catch(() => undefined)),
    );
    const attempts = new Map(live.map((e, i) => [e.id, Math.max(2, counts[i]?.[0]?.[3] ?? 2)]));
    this.#enqueue(entries, (id) => attempts.get(id) ?? 2);
  }

  #enqueue(entries: StreamEntry[], attemptOf: (id: string) => number): void {
    if (this.ended) return;
    const deleted: string[] = [];
    for (const { id, fields } of entries) {
      if (fields === null) deleted.push(id);
      else if (!this.#held.has(id)) {
        this.#held.add(id);
        this.#buffer.push(this.#delivery(id, attemptOf(id), fieldOf(fields, 'data'), metadataFromJson(fieldOf(fields, 'metadata'))));
      }
    }
    // A trimmed entry can never be delivered: take it out of the pending list.
    if (deleted.length > 0) this.#ackQuietly(deleted);
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
        await this.#host.track(this.#host.commands.call('XACK', [this.#topic, this.#group, id]));
      },
      nack: async (opts) => {
        const delayMs = nackDelayOf(opts);
        if (settled || this.ended) return;
        settled = true;
        const entry = { id, attempt: attempt + 1, dueAt: Date.now() + delayMs };
        const at = this.#nacked.findIndex((e) => e.dueAt > entry.dueAt);
        this.#nacked.splice(at === -1 ? this.#nacked.length : at, 0, entry);
        const timer = setTimeout(() => {
          this.#nackTimers.delete(timer);
          this.wake();
        }, delayMs);
        this.#nackTimers.add(timer);
      },
    };
  }

  #keepHeldAlive(): void {
    if (this.#held.size === 0 || this.#host.closed) return;
    this.#host.track(this.#refreshHeld()).catch(ignore);
  }

  /**
   * Resets the idle time of held entries (XCLAIM JUSTID counts no delivery), so no other
   * member's XAUTOCLAIM takes them. Only entries this consumer still owns: one another
   * member claimed meanwhile (this process stalled past processingTimeout) is left to it
   * and no longer kept here.
   */
  async #refreshHeld(): Promise<void> {
    const { commands } = this.#host;
    const owned = (await commands.call('XPENDING', [this.#topic, this.#group, '-', '+', this.#held.size, this.#consumer])) as [string, ...unknown[]][];
    const ownedIds = new Set(owned.map(([id]) => id));
    const keep = [...this.#held].filter((id) => ownedIds.has(id));
    if (keep.length > 0) await commands.call('XCLAIM', [this.#topic, this.#group, this.#consumer, 0, ...keep, 'JUSTID']);
  }

  #ackQuietly(ids: string[]): void {
    this.#host.track(this.#host.commands.call('XACK', [this.#topic, this.#group, ...ids])).catch(ignore);
  }
}
