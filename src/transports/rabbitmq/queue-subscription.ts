import type { Channel, ConsumeMessage } from 'amqplib';
import { ConfigurationError } from '../../core/errors.js';
import { nackDelayOf } from '../argument-checks.js';
import { backoffMs } from '../backoff.js';
import { PullIterator } from '../pull-iterator.js';
import type { Delivery, SubscribeOptions } from '../transport.js';
import type { ResolvedRabbitMqConfig } from './config.js';
import { closeChannelQuietly, ignore } from './connection.js';
import { declareGroupTopology, queueNameOf } from './topology.js';
import { attemptOf, bodyOf, metadataOf } from './wire-format.js';

/** What a subscription shares with its subscriber. */
export interface SubscriptionHost {
  readonly config: ResolvedRabbitMqConfig;
  /** A new channel once the connection is up; rejects when the subscriber closes or `signal` aborts. */
  openChannel(signal: AbortSignal): Promise<Channel>;
  /**
   * Declares the group's topology on a short-lived channel; the transport's publishes of
   * `topic` wait for it. Resolves `false` instead of throwing when it could not.
   */
  declareEarly(topic: string, group: string, signal: AbortSignal): Promise<boolean>;
  /** Keeps a promise until it settles, so close() can wait for it. */
  track<T>(promise: Promise<T>): Promise<T>;
}

/** One channel consuming the group queue; replaced by a new one when it closes. */
interface Attachment {
  readonly channel: Channel;
  closed: boolean;
  readonly timers: Set<NodeJS.Timeout>;
}

/**
 * One member consuming its group's quorum queue on its own channel, with prefetch = batch
 * size and explicit acks. The group's topology is declared as soon as `subscribe` is called;
 * consuming starts at the first `next()`. When the channel or the connection is lost, the
 * deliveries not yet acked go back to the queue (RabbitMQ requeues them, counting a delivery),
 * those still buffered here are dropped, and a new channel re-declares and consumes again once
 * the connection is back. Ending the subscription (its signal aborts, the subscriber closes)
 * closes the channel, so RabbitMQ hands what it had not acked to the other members.
 */
export class QueueSubscription extends PullIterator<Delivery> {
  readonly #host: SubscriptionHost;
  readonly #topic: string;
  readonly #group: string;
  readonly #queue: string;
  readonly #prefetch: number;
  /** Aborted by end(): stops waiting for a connection or a declaration. */
  readonly #stop = new AbortController();
  readonly #buffer: { delivery: Delivery; attachment: Attachment }[] = [];
  readonly #declaredEarly: Promise<boolean>;
  #attachment: Attachment | undefined;
  #attaching = false;
  #attempts = 0;
  #failures = 0;
  #retryAt = 0;
  #failure: Error | undefined;

  constructor(host: SubscriptionHost, topic: string, opts: SubscribeOptions) {
    super();
    this.#host = host;
    this.#topic = topic;
    this.#group = opts.group;
    this.#queue = queueNameOf(opts.group, topic);
    this.#prefetch = opts.batchSize ?? host.config.batchSize;
    this.#declaredEarly = host.declareEarly(topic, opts.group, this.#stop.signal);
    this.endOnAbort(opts.signal);
  }

  /** Closes the channel: what was not acked goes back to the queue. */
  protected override onEnd(): void {
    this.#stop.abort();
    this.#buffer.length = 0;
    const attachment = this.#attachment;
    this.#attachment = undefined;
    if (attachment) this.#detach(attachment);
  }

  protected override async pull(): Promise<IteratorResult<Delivery>> {
    while (!this.ended) {
      const next = this.#buffer.shift();
      if (next) return { done: false, value: next.delivery };
      if (this.#failure) {
        // A lasting refusal (the queue exists with other arguments, access refused): end, and say why.
        const failure = this.#failure;
        this.end();
        throw failure;
      }
      const now = Date.now();
      if (!this.#attachment && !this.#attaching && now >= this.#retryAt) void this.#attach();
      await this.sleep(this.#attaching || this.#attachment ? 60_000 : Math.max(1, this.#retryAt - now));
    }
    return { done: true, value: undefined };
  }

  /** Opens a channel, declares the topology (unless the early declaration did), sets prefetch and consumes. */
  async #attach(): Promise<void> {
    this.#attaching = true;
    let channel: Channel | undefined;
    try {
      // The early declaration stands in for this one only on the first try; any retry declares again.
      const declared = this.#attempts++ === 0 ? await this.#declaredEarly : false;
      channel = await this.#host.openChannel(this.#stop.signal);
      const attachment: Attachment = { channel, closed: false, timers: new Set() };
      channel.on('close', () => this.#onChannelClosed(attachment));
      if (!declared) await declareGroupTopology(channel, this.#host.config, this.#topic, this.#group);
      await channel.prefetch(this.#prefetch);
      if (this.ended || attachment.closed) throw new Error('ended while attaching');
      this.#attachment = attachment;
      await channel.consume(this.#queue, (message) => this.#onMessage(attachment, message), { noAck: false });
      this.#failures = 0;
    } catch (error) {
      if (channel) {
        if (this.#attachment?.channel === channel) this.#attachment = undefined;
        this.#host.track(closeChannelQuietly(channel)).catch(ignore);
      }
      if (!this.ended) {
        if (error instanceof ConfigurationError) this.#failure = error;
        this.#failures += 1;
        this.#retryAt = Date.now() + backoffMs(this.#failures);
      }
    } finally {
      this.#attaching = false;
      this.wake();
    }
  }

  #onMessage(attachment: Attachment, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (the queue was deleted): a new channel re-declares it.
      this.#host.track(closeChannelQuietly(attachment.channel)).catch(ignore);
      return;
    }
    // After end() or a lost channel, RabbitMQ requeues the message itself.
    if (this.ended || attachment.closed) return;
    this.#buffer.push({ delivery: this.#delivery(attachment, message), attachment });
    this.wake();
  }

  #onChannelClosed(attachment: Attachment): void {
    attachment.closed = true;
    for (const timer of attachment.timers) clearTimeout(timer);
    attachment.timers.clear();
    if (this.#attachment !== attachment) return;
    this.#attachment = undefined;
    // RabbitMQ requeues the unacked deliveries of a closed channel: yielding them now would only
    // run them twice, since their ack can no longer reach the broker.
    for (let i = this.#buffer.length - 1; i >= 0; i -= 1) if (this.#buffer[i]!.attachment === attachment) this.#buffer.splice(i, 1);
    this.#failures += 1;
    this.#retryAt = Date.now() + backoffMs(this.#failures);
    this.wake();
  }

  #detach(attachment: Attachment): void {
    for (const timer of attachment.timers) clearTimeout(timer);
    attachment.timers.clear();
    this.#host.track(closeChannelQuietly(attachment.channel)).catch(ignore);
  }

  #delivery(attachment: Attachment, message: ConsumeMessage): Delivery {
    let settled = false;
    /** Acks or nacks on the channel the message came from; ignored once that channel is closed. */
    const settle = (action: (channel: Channel) => void): void => {
      if (attachment.closed) return;
      try {
        action(attachment.channel);
      } catch {
        // The channel closed meanwhile (amqplib throws): RabbitMQ requeues the message.
      }
    };
    const messageId: unknown = message.properties.messageId;
    return {
      id: typeof messageId === 'string' ? messageId : `${this.#queue}#${message.fields.deliveryTag}`,
      topic: this.#topic,
      attempt: attemptOf(message),
      body: bodyOf(message),
      metadata: metadataOf(message),
      ack: async () => {
        if (settled) return;
        settled = true;
        settle((channel) => channel.ack(message));
      },
      nack: async (opts) => {
        const delayMs = nackDelayOf(opts);
        if (settled) return;
        settled = true;
        const requeue = (): void => settle((channel) => channel.nack(message, false, true));
        if (delayMs === 0 || attachment.closed) return requeue();
        // Held unacked on this channel for the delay; if the process or channel dies meanwhile,
        // RabbitMQ requeues it anyway.
        const timer = setTimeout(() => {
          attachment.timers.delete(timer);
          requeue();
        }, delayMs);
        attachment.timers.add(timer);
      },
    };
  }
}
