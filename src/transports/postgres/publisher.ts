import { untilAborted } from '../../core/abort.js';
import type { CloudEvent } from '../../core/envelope.js';
import { ArgumentError } from '../../core/errors.js';
import { InFlight } from '../in-flight.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, encodeEvents } from '../payload.js';
import type { Publisher, TransportPublishOptions } from '../transport.js';
import { closedError, retryUntil, type TransportConnection } from './connection.js';

/** The signal of a call that passed none. */
const NEVER = new AbortController().signal;

/**
 * Appends events to the topic log: one `INSERT … SELECT FROM unnest(…)` per call, so the events of
 * a call get ids in the order given and commit together. `publish` resolves once that statement
 * committed (synchronously: as durable as PostgreSQL makes any commit), then the subscribers of
 * this process are woken at once and those of others by a coalesced NOTIFY sent after the commit.
 *
 * A lost connection is retried at once (a pooled connection the server closed when it restarted),
 * then with backoff for up to `connectTimeoutMs`; if PostgreSQL is still unreachable, `publish`
 * rejects with ServerUnreachableError naming the address and the caller (the relay) retries. A
 * call whose connection dropped during the commit may have stored its events: sent again, they
 * are stored twice (at-least-once; consumers absorb duplicates).
 */
export class PostgresPublisher implements Publisher {
  readonly #connection: TransportConnection;
  readonly #inFlight = new InFlight();
  #closing: Promise<void> | undefined;

  constructor(connection: TransportConnection) {
    this.#connection = connection;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  publish(topic: string, events: readonly CloudEvent[], opts?: TransportPublishOptions): Promise<void> {
    if (this.#closing) return Promise.reject(closedError('publisher'));
    if (opts?.signal?.aborted) return Promise.reject(opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
    if (typeof topic !== 'string' || topic === '') return Promise.reject(new ArgumentError('topic', topic, 'a non-empty string'));
    if (events.length === 0) return Promise.resolve();
    let bodies: string[];
    try {
      bodies = encodeEvents('postgres', topic, events, DEFAULT_MAX_PAYLOAD_BYTES);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const { pool, statements, listener, notifier, address } = this.#connection;
    const metadata = opts?.metadata === undefined ? null : JSON.stringify(opts.metadata);
    const values = [topic, bodies, metadata];
    const signal = opts?.signal ?? NEVER;
    const deadline = Date.now() + this.#connection.config.connectTimeoutMs;
    const stored = this.#inFlight.track(
      retryUntil(() => pool.query({ ...statements.publish, values }), { signal, deadline, address }).then((result) => {
        if (result === undefined) return; // aborted before it ran again: nothing new is stored
        listener.wake(topic);
        notifier.notify(topic);
      }),
    );
    return opts?.signal ? untilAborted(stored, opts.signal) : stored;
  }

  /** Refuses new publishes and waits for those in flight, then for their NOTIFYs. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#inFlight.settled().then(() => this.#connection.notifier.settled());
    return this.#closing;
  }
}
