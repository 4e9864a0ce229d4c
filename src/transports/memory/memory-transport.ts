import type { CloudEvent } from '../../core/envelope.js';
import { ConfigurationError, SyncError } from '../../core/errors.js';
import { checkGroupAndConsumer, nackDelayOf } from '../argument-checks.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, encodeEvents } from '../payload.js';
import { OpenSubscriptions, PullIterator } from '../pull-iterator.js';
import type { Delivery, Publisher, SubscribeOptions, Subscriber, Transport, TransportCapabilities } from '../transport.js';

/** Configuration of {@link createMemoryTransport}. */
export interface MemoryTransportConfig {
  /** Reported as `Transport.name`; default `'memory'`. Tells two in-process brokers apart in a test. */
  readonly name?: string;
}

/** The defaults {@link createMemoryTransport} fills in. */
export const DEFAULT_MEMORY_TRANSPORT_CONFIG = { name: 'memory' } as const satisfies Required<MemoryTransportConfig>;

/**
 * What the memory transport promises: consumer groups and redelivery on nack, but
 * nothing survives the process, and a group whose members share the work gives no
 * order per key (a single member sees publish order on first delivery).
 */
export const MEMORY_TRANSPORT_CAPABILITIES: TransportCapabilities = Object.freeze({
  consumerGroups: true,
  orderedPerKey: false,
  persistent: false,
  redeliversOnNack: true,
  delayedRedelivery: true,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
});

/** One published message as the memory broker keeps it. */
export interface MemoryEntry {
  /** Stream-style id, increasing per transport: `1-0`, `2-0`, … */
  readonly id: string;
  /** The CloudEvent JSON text. */
  readonly body: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * An in-process {@link Transport} for unit tests. Each topic is an append-only log;
 * each consumer group reads it from the start (so a group that joins late still sees
 * earlier events), and the members of one group share the work. A delivery neither
 * acked nor nacked stays with its member until that member's subscription ends, then
 * goes to another member with `attempt + 1`, as a Redis consumer that died would.
 */
export interface MemoryTransport extends Transport {
  /** Every entry published to `topic`, in publish order (test inspection). */
  published(topic: string): readonly MemoryEntry[];
  /** How many entries of `topic` the group has not acknowledged yet (0 when all are settled). */
  unacked(topic: string, group: string): number;
  /**
   * {@link unacked}, as the contract's `Transport.lag`: entries the group has not taken yet plus
   * those taken and not acked (held, nacked, waiting out a delay); undefined until a member of the
   * group has subscribed to the topic (the group exists from then on).
   */
  lag(topic: string, group: string): Promise<number | undefined>;
}

/** Creates an empty in-process broker; see {@link MemoryTransport}. */
export function createMemoryTransport(config: MemoryTransportConfig = {}): MemoryTransport {
  const name = config.name ?? DEFAULT_MEMORY_TRANSPORT_CONFIG.name;
  if (typeof name !== 'string' || name === '') throw new ConfigurationError('name', name, 'a non-empty string');
  return new MemoryBroker(name);
}

type PendingState = 'held' | 'delayed' | 'ready';

interface PendingEntry {
  readonly entry: MemoryEntry;
  /** Times delivered so far: the attempt number of the latest delivery. */
  deliveries: number;
  state: PendingState;
  holder: MemorySubscription | undefined;
}

class MemoryGroup {
  /** Index into the topic log of the next entry this group has never seen. */
  nextIndex = 0;
  readonly pending = new Map<string, PendingEntry>();
  /** Entries given back (nack, ended subscription), for any member. */
  readonly ready: PendingEntry[] = [];
  readonly members = new Set<MemorySubscription>();

  /** Puts an entry back for any member. */
  release(pending: PendingEntry): void {
    pending.state = 'ready';
    pending.holder = undefined;
    this.ready.push(pending);
    this.wakeMembers();
  }

  wakeMembers(): void {
    for (const member of this.members) member.wake();
  }
}

class MemoryTopic {
  readonly entries: MemoryEntry[] = [];
  readonly groups = new Map<string, MemoryGroup>();

  group(name: string): MemoryGroup {
    let group = this.groups.get(name);
    if (!group) {
      group = new MemoryGroup();
      this.groups.set(name, group);
    }
    return group;
  }
}

function transportClosed(what: string): SyncError {
  return new SyncError('TRANSPORT_CLOSED', `the memory transport's ${what} is closed`);
}

class MemoryBroker implements MemoryTransport {
  readonly capabilities = MEMORY_TRANSPORT_CAPABILITIES;
  readonly publisher: Publisher;
  readonly subscriber: Subscriber;
  readonly #topics = new Map<string, MemoryTopic>();
  readonly #subscriptions = new OpenSubscriptions<MemorySubscription>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #sequence = 0;
  #publisherClosed = false;
  #subscriberClosed = false;

  constructor(readonly name: string) {
    this.publisher = {
      publish: (topic, events, opts) => this.#publish(topic, events, opts),
      close: () => {
        this.#publisherClosed = true;
        return Promise.resolve();
      },
    };
    this.subscriber = {
      subscribe: (topic, opts) => this.#subscribe(topic, opts),
      close: () => {
        this.#closeSubscriber();
        return Promise.resolve();
      },
    };
  }

  published(topic: string): readonly MemoryEntry[] {
    return [...(this.#topics.get(topic)?.entries ?? [])];
  }

  unacked(topic: string, group: string): number {
    const log = this.#topics.get(topic);
    if (!log) return 0;
    const state = log.groups.get(group);
    return state ? log.entries.length - state.nextIndex + state.pending.size : log.entries.length;
  }

  lag(topic: string, group: string): Promise<number | undefined> {
    if (this.#subscriberClosed) return Promise.reject(transportClosed('subscriber'));
    const state = this.#topics.get(topic)?.groups.get(group);
    return Promise.resolve(state ? this.unacked(topic, group) : undefined);
  }

  close(): Promise<void> {
    this.#publisherClosed = true;
    this.#closeSubscriber();
    return Promise.resolve();
  }

  get subscriberClosed(): boolean {
    return this.#subscriberClosed;
  }

  /** Runs `fn` after `delayMs` unless the subscriber side closes first. */
  schedule(delayMs: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, delayMs);
    this.#timers.add(timer);
  }

  #topic(name: string): MemoryTopic {
    let log = this.#topics.get(name);
    if (!log) {
      log = new MemoryTopic();
      this.#topics.set(name, log);
    }
    return log;
  }

  #publish(topic: string, events: readonly CloudEvent[], opts?: { signal?: AbortSignal; metadata?: Readonly<Record<string, string>> }): Promise<void> {
    if (this.#publisherClosed) return Promise.reject(transportClosed('publisher'));
    if (opts?.signal?.aborted) return Promise.reject(opts.signal.reason as Error);
    let bodies: string[];
    try {
      bodies = encodeEvents(this.name, topic, events, this.capabilities.maxPayloadBytes);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const metadata = Object.freeze({ ...opts?.metadata });
    const log = this.#topic(topic);
    for (const body of bodies) log.entries.push({ id: `${++this.#sequence}-0`, body, metadata });
    for (const group of log.groups.values()) group.wakeMembers();
    return Promise.resolve();
  }

  #subscribe(topic: string, opts: SubscribeOptions): AsyncIterable<Delivery> {
    if (this.#subscriberClosed) throw transportClosed('subscriber');
    checkGroupAndConsumer(opts);
    return this.#subscriptions.add(new MemorySubscription(this, topic, this.#topic(topic), opts));
  }

  #closeSubscriber(): void {
    if (this.#subscriberClosed) return;
    this.#subscriberClosed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#subscriptions.endAll();
  }
}

class MemorySubscription extends PullIterator<Delivery> {
  readonly #group: MemoryGroup;

  constructor(
    readonly broker: MemoryBroker,
    readonly topic: string,
    readonly log: MemoryTopic,
    readonly opts: SubscribeOptions,
  ) {
    super();
    this.#group = log.group(opts.group);
    this.#group.members.add(this);
    this.endOnAbort(opts.signal);
  }

  protected override async pull(): Promise<IteratorResult<Delivery>> {
    while (!this.ended) {
      const delivery = this.#take();
      if (delivery) return { done: false, value: delivery };
      await this.sleep(); // until a publish or a release wakes this member
    }
    return { done: true, value: undefined };
  }

  /** Gives every delivery this member still holds back to its group. */
  protected override onEnd(): void {
    this.#group.members.delete(this);
    if (!this.broker.subscriberClosed) {
      for (const pending of this.#group.pending.values()) {
        if (pending.holder === this && pending.state === 'held') this.#group.release(pending);
      }
    }
  }

  #take(): Delivery | undefined {
    const group = this.#group;
    let pending: PendingEntry | undefined;
    while (!pending && group.ready.length > 0) {
      const candidate = group.ready.shift()!;
      // skip entries acked while they waited
      if (candidate.state === 'ready' && group.pending.get(candidate.entry.id) === candidate) pending = candidate;
    }
    if (!pending && group.nextIndex < this.log.entries.length) {
      const entry = this.log.entries[group.nextIndex++]!;
      pending = { entry, deliveries: 0, state: 'ready', holder: undefined };
      group.pending.set(entry.id, pending);
    }
    if (!pending) return undefined;
    pending.deliveries += 1;
    pending.state = 'held';
    pending.holder = this;
    return this.#delivery(pending, pending.deliveries);
  }

  #delivery(pending: PendingEntry, attempt: number): Delivery {
    const { entry } = pending;
    const group = this.#group;
    let settled = false; // as on Redis: after a nack, this delivery's ack does nothing
    return {
      id: entry.id,
      topic: this.topic,
      attempt,
      body: entry.body,
      metadata: entry.metadata,
      ack: () => {
        // Like XACK: settles the entry whoever holds it now; ignored after close or nack.
        if (settled) return Promise.resolve();
        settled = true;
        if (!this.broker.subscriberClosed && group.pending.get(entry.id) === pending) group.pending.delete(entry.id);
        return Promise.resolve();
      },
      nack: async (opts) => {
        const delayMs = nackDelayOf(opts);
        const current = group.pending.get(entry.id) === pending && pending.state === 'held' && pending.deliveries === attempt;
        if (settled || this.broker.subscriberClosed || !current) return;
        settled = true;
        if (delayMs === 0) {
          group.release(pending);
        } else {
          pending.state = 'delayed';
          pending.holder = undefined;
          this.broker.schedule(delayMs, () => group.release(pending));
        }
      },
    };
  }
}
