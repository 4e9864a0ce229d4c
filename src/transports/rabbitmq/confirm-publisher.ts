import type { ConfirmChannel, Message, Options, RecoveringChannelModel } from 'amqplib';
import { abortReason, pause, untilAborted } from '../../core/abort.js';
import type { CloudEvent } from '../../core/envelope.js';
import { SyncError } from '../../core/errors.js';
import { backoffMs } from '../backoff.js';
import { InFlight } from '../in-flight.js';
import { encodeEvents } from '../payload.js';
import type { Publisher, TransportPublishOptions } from '../transport.js';
import type { ResolvedRabbitMqConfig } from './config.js';
import { closeChannelQuietly, ignore, type PendingDeclarations } from './connection.js';
import { checkTopic, declareExchange } from './topology.js';
import { metadataHeaders, publishOptions } from './wire-format.js';

/** What the publisher shares with its transport. */
export interface PublisherHost {
  readonly config: ResolvedRabbitMqConfig;
  readonly connection: RecoveringChannelModel;
  readonly declarations: PendingDeclarations;
  /** Called once when the publisher has closed. */
  released(): void;
}

/** The publisher's confirm channel and what the broker said about messages on it. */
interface ConfirmChannelState {
  readonly channel: ConfirmChannel;
  closed: boolean;
  /** `message-id`s returned as unroutable (only with `mandatory`); the confirm that follows rejects. */
  readonly returned: Set<string>;
  /** The channel error RabbitMQ closed it with (`code` 403 access refused, 406 precondition failed, …). */
  error?: { code?: number; message: string };
}

/** Channel-close codes that mean RabbitMQ refuses the message itself, so sending it again cannot help. */
const REFUSAL_CODES = new Set([403, 406]);

/** A refusal from the broker (negative confirm, or returned as unroutable): not retried. */
class BrokerRefusal extends Error {}

export function closedError(side: string): SyncError {
  return new SyncError('TRANSPORT_CLOSED', `the rabbitmq ${side} is closed`);
}

/**
 * Publishes on one shared confirm channel: `publish` resolves once RabbitMQ confirmed every
 * message of the call (each is then in every queue bound to its topic, on disk for quorum
 * queues), and rejects on a negative confirm or, with `mandatory`, on a returned message.
 * When the channel or the connection is lost before every confirm arrived, the whole call is
 * sent again on a new channel (at-least-once) once the connection is back, with backoff up to
 * 2 s, until it succeeds, its `signal` aborts or the publisher closes.
 */
export class ConfirmPublisher implements Publisher {
  readonly #host: PublisherHost;
  readonly #inFlight = new InFlight();
  /** Aborted by close(): publishes waiting for a connection give up. */
  readonly #stop = new AbortController();
  #state: ConfirmChannelState | undefined;
  #opening: Promise<ConfirmChannelState> | undefined;
  #closing: Promise<void> | undefined;

  constructor(host: PublisherHost) {
    this.#host = host;
  }

  publish(topic: string, events: readonly CloudEvent[], opts?: TransportPublishOptions): Promise<void> {
    if (this.#closing) return Promise.reject(closedError('publisher'));
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let messages: { content: Buffer; event: CloudEvent }[];
    let headers: Record<string, string>;
    try {
      checkTopic(topic);
      headers = metadataHeaders(opts?.metadata);
      const bodies = encodeEvents('rabbitmq', topic, events, this.#host.config.maxPayloadBytes);
      messages = bodies.map((body, i) => ({ content: Buffer.from(body, 'utf8'), event: events[i]! }));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error('publish refused', { cause: error }));
    }
    if (messages.length === 0) return Promise.resolve();
    const sent = this.#inFlight.track(this.#sendUntilConfirmed(topic, messages, headers, signal));
    return signal ? untilAborted(sent, signal) : sent;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort(closedError('publisher'));
      // Confirms normally arrive within milliseconds; a blocked broker (memory or disk alarm)
      // sends none, so after a grace period the channel is closed, which fails them.
      const grace = new AbortController();
      await Promise.race([this.#inFlight.settled(), pause(this.#host.config.connectTimeoutMs, grace.signal)]);
      grace.abort();
      const state = this.#state;
      this.#state = undefined;
      if (state) await closeChannelQuietly(state.channel);
      await this.#inFlight.settled();
      this.#host.released();
    })();
    return this.#closing;
  }

  async #sendUntilConfirmed(topic: string, messages: readonly { content: Buffer; event: CloudEvent }[], headers: Record<string, string>, signal: AbortSignal | undefined): Promise<void> {
    const { config, declarations } = this.#host;
    for (let failures = 1; ; failures += 1) {
      let state: ConfirmChannelState | undefined;
      try {
        await this.#untilStopped(declarations.settled(topic), signal);
        state = await this.#untilStopped(this.#confirmChannel(), signal);
        await this.#sendOn(state, topic, messages.map(({ content, event }) => ({ content, options: publishOptions(event, headers, config.mandatory), id: event.id })));
        return;
      } catch (error) {
        // Only a lost channel or connection is worth another try: the broker's refusal, a
        // header table too large to encode, or an exchange declared otherwise are not.
        if (!(state?.closed ?? isChannelOpenFailure(error))) throw error;
        // RabbitMQ closed the channel because of the message itself (too large for its
        // max_message_size, no permission on the exchange): sending again would loop forever.
        if (state?.error?.code !== undefined && REFUSAL_CODES.has(state.error.code)) {
          throw new BrokerRefusal(
            `RabbitMQ refused the publish to ${topic} and closed the channel (${state.error.code}): ${state.error.message}. ` +
              'If the message is too large, lower maxPayloadBytes to the broker\'s max_message_size or raise that.',
          );
        }
        if (this.#stop.signal.aborted) throw closedError('publisher');
        if (signal?.aborted) throw abortReason(signal);
      }
      await pause(backoffMs(failures), signal, this.#stop.signal);
    }
  }

  /** Sends the messages in order and resolves when all are confirmed; rejects with the first failure. */
  async #sendOn(state: ConfirmChannelState, topic: string, messages: readonly { content: Buffer; options: Options.Publish; id: string }[]): Promise<void> {
    const { channel, returned } = state;
    const exchange = this.#host.config.exchange;
    const confirms: Promise<void>[] = [];
    for (const { content, options, id } of messages) {
      if (state.closed) throw new Error('channel closed');
      let writable = true;
      const confirm = new Promise<void>((resolve, reject) => {
        writable = channel.publish(exchange, topic, content, options, (error: unknown) => {
          if (error) reject(error instanceof Error ? error : new Error('publish failed', { cause: error }));
          else if (options.messageId !== undefined && returned.delete(options.messageId)) {
            reject(new BrokerRefusal(`no queue is bound to topic ${topic} on exchange ${exchange}: event ${id} was returned (mandatory)`));
          } else resolve();
        });
      });
      // Read below; if the loop stops early (channel lost), the outcome is not wanted any more.
      confirm.catch(ignore);
      confirms.push(confirm);
      // The socket's buffer is full: wait before writing more (large events, long batches).
      if (!writable) await drained(state);
    }
    const outcomes = await Promise.allSettled(confirms);
    const index = outcomes.findIndex((outcome) => outcome.status === 'rejected');
    if (index === -1) return;
    const reason = (outcomes[index] as PromiseRejectedResult).reason as Error;
    // amqplib fails the confirms of a channel that closed before its own 'close' listeners run:
    // by now `state.closed` tells a lost channel (sent again) from a negative confirm.
    if (state.closed || reason instanceof BrokerRefusal || !(reason.message === 'message nacked')) throw reason;
    throw new BrokerRefusal(`RabbitMQ refused (nacked) event ${messages[index]!.id} on ${topic}`, { cause: reason });
  }

  /** The open confirm channel, or a new one (declaring the exchange) once the connection is up. */
  #confirmChannel(): Promise<ConfirmChannelState> {
    const current = this.#state;
    if (current && !current.closed) return Promise.resolve(current);
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<ConfirmChannelState> {
    // Waits while the connection is down (amqplib's recovery reconnects it).
    const channel = await this.#host.connection.createConfirmChannel();
    const state: ConfirmChannelState = { channel, closed: false, returned: new Set() };
    channel.on('error', (error: Error & { code?: number }) => {
      state.error = { code: error.code, message: error.message };
    });
    channel.on('handler-error', ignore);
    channel.on('close', () => {
      state.closed = true;
    });
    channel.on('return', (message: Message) => {
      const id: unknown = message.properties.messageId;
      if (typeof id === 'string') state.returned.add(id);
    });
    try {
      await declareExchange(channel, this.#host.config);
    } catch (error) {
      await closeChannelQuietly(channel);
      throw error;
    }
    if (this.#stop.signal.aborted) {
      await closeChannelQuietly(channel);
      throw closedError('publisher');
    }
    this.#state = state;
    return state;
  }

  #untilStopped<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const stopped = untilAborted(promise, this.#stop.signal);
    return signal ? untilAborted(stopped, signal) : stopped;
  }
}

/** Opening a channel failed because the connection went away (retry), not for a lasting reason. */
function isChannelOpenFailure(error: unknown): boolean {
  return !(error instanceof SyncError) && !(error instanceof BrokerRefusal) && !(error instanceof RangeError);
}

/** Resolves on the channel's `drain`, or when it closes. */
function drained(state: ConfirmChannelState): Promise<void> {
  if (state.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      state.channel.removeListener('drain', done);
      state.channel.removeListener('close', done);
      resolve();
    };
    state.channel.once('drain', done);
    state.channel.once('close', done);
  });
}
