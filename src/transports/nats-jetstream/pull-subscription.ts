import type { Consumer, ConsumerInfo, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { SyncError } from '../../core/errors.js';
import { nackDelayOf } from '../argument-checks.js';
import { backoffMs } from '../backoff.js';
import { PullIterator } from '../pull-iterator.js';
import type { Delivery, SubscribeOptions } from '../transport.js';
import type { ResolvedNatsJetStreamConfig } from './config.js';
import { metadataOf } from './message-headers.js';

/** What a subscription shares with its subscriber. */
export interface SubscriptionHost {
  readonly config: ResolvedNatsJetStreamConfig;
  readonly js: JetStreamClient;
  /** True once the subscriber closed: acks and nacks are ignored from then on. */
  readonly closed: boolean;
  /** The group's durable consumer on the topic, created when missing. */
  consumerFor(topic: string, group: string): Promise<ConsumerInfo>;
}

const ignore = (): void => undefined;

/**
 * One member pulling one topic for its group. Pull-driven: each `next()` yields from the
 * buffer, or else makes sure the group's durable consumer exists and runs one pull request
 * (`fetch`) of up to `batchSize` messages, yielding them as they arrive. A new pull request
 * starts only when the last one ended and the buffer is empty, which is the back-pressure.
 * Messages fetched and not settled are kept alive with "working" every `keepAliveIntervalMs`.
 * Errors (broker restarted, consumer deleted, heartbeats missed) are retried with backoff,
 * and the consumer is looked up (and re-created) again, until the subscription ends.
 */
export class PullSubscription extends PullIterator<Delivery> {
  readonly #host: SubscriptionHost;
  readonly #topic: string;
  readonly #group: string;
  readonly #batchSize: number;
  readonly #buffer: Delivery[] = [];
  /** Messages fetched and neither acked nor nacked: buffered or yielded. Kept alive. */
  readonly #held = new Set<JsMsg>();
  readonly #unyielded = new WeakMap<Delivery, JsMsg>();
  readonly #keepAlive: NodeJS.Timeout;
  #consumer: Consumer | undefined;
  #fetch: ConsumerMessages | undefined;
  #fetching = false;
  #fetchFailure: Error | undefined;
  #failures = 0;

  constructor(host: SubscriptionHost, topic: string, opts: SubscribeOptions) {
    super();
    this.#host = host;
    this.#topic = topic;
    this.#group = opts.group;
    this.#batchSize = opts.batchSize ?? host.config.batchSize;
    this.#keepAlive = setInterval(() => this.#keepHeldAlive(), host.config.keepAliveIntervalMs);
    this.endOnAbort(opts.signal);
  }

  /**
   * Messages fetched but never yielded are given back (`nak`) for another member; yielded ones
   * not settled stop being kept alive and are redelivered after `processingTimeoutMs`.
   */
  protected override onEnd(): void {
    clearInterval(this.#keepAlive);
    void this.#fetch?.close().catch(ignore);
    for (const delivery of this.#buffer.splice(0)) {
      const msg = this.#unyielded.get(delivery);
      if (msg) this.#giveBack(msg);
    }
    this.#held.clear();
  }

  protected override async pull(): Promise<IteratorResult<Delivery>> {
    while (!this.ended) {
      const delivery = this.#buffer.shift();
      if (delivery) {
        this.#unyielded.delete(delivery);
        return { done: false, value: delivery };
      }
      try {
        const step = this.#step();
        step.catch(ignore);
        // A step waiting on the server does not hold up the end of the iteration.
        await Promise.race([step, this.whenEnded]);
      } catch (error) {
        if (this.ended) break;
        // A configuration clash (consumer name taken by another topic) cannot heal by waiting.
        if (error instanceof SyncError && error.permanent) throw error;
        this.#consumer = undefined;
        this.#failures += 1;
        await this.sleep(backoffMs(this.#failures));
      }
    }
    return { done: true, value: undefined };
  }

  async #step(): Promise<void> {
    if (this.#fetchFailure !== undefined) {
      const failure = this.#fetchFailure;
      this.#fetchFailure = undefined;
      throw failure;
    }
    if (this.#consumer === undefined) {
      if (this.#fetching) {
        await this.sleep(this.#host.config.fetchExpiresMs * 2);
        return;
      }
      const info = await this.#host.consumerFor(this.#topic, this.#group);
      this.#consumer = this.#host.js.consumers.getConsumerFromInfo(info);
      return;
    }
    if (!this.#fetching) this.#startFetch(this.#consumer);
    // Woken by a message, the pull request's end, or end(); the timeout is only a safety net.
    await this.sleep(this.#host.config.fetchExpiresMs * 2);
  }

  #startFetch(consumer: Consumer): void {
    const expires = this.#host.config.fetchExpiresMs;
    const started = Date.now();
    let received = 0;
    this.#fetching = true;
    const run = async (): Promise<void> => {
      const messages = await consumer.fetch({ max_messages: this.#batchSize, expires });
      this.#fetch = messages;
      if (this.ended) void messages.close().catch(ignore);
      for await (const msg of messages) {
        received += 1;
        this.#enqueue(msg);
      }
    };
    run().then(
      () => {
        this.#fetching = false;
        this.#fetch = undefined;
        // A pull request that ends early and empty is not a quiet topic: check the consumer.
        if (received === 0 && Date.now() - started < expires / 2 && !this.ended) {
          this.#fetchFailure = new Error(`the pull request on ${this.#topic} ended after ${Date.now() - started} ms without messages`);
        } else {
          this.#failures = 0;
        }
        this.wake();
      },
      (error: unknown) => {
        this.#fetching = false;
        this.#fetch = undefined;
        this.#fetchFailure = error instanceof Error ? error : new Error(String(error));
        this.wake();
      },
    );
  }

  #enqueue(msg: JsMsg): void {
    if (this.ended) {
      this.#giveBack(msg);
      return;
    }
    const delivery = this.#delivery(msg);
    this.#held.add(msg);
    this.#unyielded.set(delivery, msg);
    this.#buffer.push(delivery);
    this.wake();
  }

  #delivery(msg: JsMsg): Delivery {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      this.#held.delete(msg);
      return !this.#host.closed;
    };
    return {
      id: String(msg.seq),
      topic: this.#topic,
      attempt: msg.info.deliveryCount,
      body: msg.data.length === 0 ? undefined : msg.string(),
      metadata: metadataOf(msg.headers),
      ack: async () => {
        if (settle()) msg.ack();
      },
      nack: async (opts) => {
        const delayMs = nackDelayOf(opts);
        // The server redelivers to any member of the group, after the delay when one is given.
        if (settle()) msg.nak(delayMs > 0 ? Math.ceil(delayMs) : undefined);
      },
    };
  }

  /** "Working" for every held message resets its ack timer, so no other member gets it meanwhile. */
  #keepHeldAlive(): void {
    if (this.#host.closed) return;
    for (const msg of this.#held) {
      try {
        msg.working();
      } catch {
        return; // connection closed: nothing more can be sent
      }
    }
  }

  #giveBack(msg: JsMsg): void {
    if (this.#host.closed) return;
    try {
      msg.nak();
    } catch {
      // connection closed: the server redelivers after ack_wait anyway
    }
  }
}
