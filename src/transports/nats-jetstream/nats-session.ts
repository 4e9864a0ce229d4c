import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiCodes, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { untilAborted } from '../../core/abort.js';
import { ConfigurationError, ServerUnreachableError } from '../../core/errors.js';
import { connectTimeoutSignal } from '../connect-timeout.js';
import { natsServersOf, type ResolvedNatsJetStreamConfig } from './config.js';
import { isApiError } from './stream-topology.js';

const ignore = (): void => undefined;

/** Milliseconds before the next reconnect try: grows with the outage, from 100 ms up to 2 s. */
export function reconnectDelayMs(outageMs: number): number {
  return Math.min(2_000, Math.max(100, Math.floor(outageMs / 2)));
}

/** The connection dropped while a publish waited for its acknowledgements; it may be sent again. */
export class ConnectionLostError extends Error {
  constructor() {
    super('the connection to NATS dropped before every PubAck arrived');
    this.name = 'ConnectionLostError';
  }
}

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

function deferred(): Deferred {
  let resolve: () => void = ignore;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The one NATS connection a transport's publisher and subscriber share, and its state. The
 * NATS client reconnects forever, but drops what was written while disconnected, so callers
 * ask {@link whenConnected} before sending and {@link nextDisconnect} to notice a drop. The
 * connection closes when both sides have released it, after a flush, so acks sent just
 * before close reach the server.
 */
export class NatsSession {
  readonly connection: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** `host:port` of the server(s), for error messages. */
  readonly address: string;
  readonly #config: ResolvedNatsJetStreamConfig;
  readonly #outage: { since: number | undefined };
  readonly #closedSignal = deferred();
  #users = 2;
  #reconnected = deferred();
  #disconnected = deferred();

  private constructor(connection: NatsConnection, jsm: JetStreamManager, address: string, config: ResolvedNatsJetStreamConfig, outage: { since: number | undefined }) {
    this.connection = connection;
    this.jsm = jsm;
    this.js = jetstream(connection, { timeout: config.requestTimeoutMs });
    this.address = address;
    this.#config = config;
    this.#outage = outage;
    void this.#watch();
  }

  /**
   * Connects and checks that JetStream answers: {@link ServerUnreachableError} when the server
   * does not answer within `connectTimeoutMs`, `ConfigurationError` (field `url`) when it runs
   * without JetStream.
   */
  static async open(config: ResolvedNatsJetStreamConfig): Promise<NatsSession> {
    const servers = natsServersOf(config.url)!;
    const address = servers.addresses.join(',');
    const outage: { since: number | undefined } = { since: undefined };
    const deadline = connectTimeoutSignal(config.connectTimeoutMs);
    const connecting = connect({
      servers: [...servers.addresses],
      ...(servers.tls ? { tls: {} } : {}),
      ...(servers.user !== undefined ? { user: servers.user, pass: servers.pass } : {}),
      ...(servers.token !== undefined ? { token: servers.token } : {}),
      name: 'datasync',
      timeout: config.connectTimeoutMs,
      // Fail fast on the first connection; once connected, never give up.
      waitOnFirstConnect: false,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: () => reconnectDelayMs(outage.since === undefined ? 0 : Date.now() - outage.since),
    });
    // A connection that arrives after the deadline is closed at once.
    connecting.then((late) => (deadline.aborted ? late.close() : undefined)).catch(ignore);
    let connection: NatsConnection;
    try {
      connection = await untilAborted(connecting, deadline);
    } catch (cause) {
      throw new ServerUnreachableError('NATS', address, { cause });
    }
    try {
      const jsm = await untilAborted(jetstreamManager(connection, { timeout: config.requestTimeoutMs }), deadline);
      return new NatsSession(connection, jsm, address, config, outage);
    } catch (cause) {
      await connection.close().catch(ignore);
      if (isJetStreamDisabled(cause)) {
        throw new ConfigurationError('url', config.url, `a NATS server with JetStream enabled (start nats-server with -js, or add a jetstream block to its configuration); ${address} answered without JetStream`);
      }
      throw new ServerUnreachableError('NATS JetStream', address, { cause });
    }
  }

  get connected(): boolean {
    return this.#outage.since === undefined && !this.connection.isClosed();
  }

  /** Resolves at once when connected, else at the reconnect; rejects after `timeoutMs` without one. */
  async whenConnected(timeoutMs: number): Promise<void> {
    if (this.connected) return;
    const waited = new AbortController();
    const reconnected = this.#reconnected.promise.then(() => true);
    const gaveUp = sleep(timeoutMs, false, { signal: waited.signal }).catch(() => false);
    const ok = await Promise.race([reconnected, gaveUp]);
    waited.abort();
    if (!ok) throw new ServerUnreachableError('NATS', this.address, { cause: new Error(`no connection for ${timeoutMs} ms`) });
  }

  /** Resolves at the next disconnect (or close) after this call. */
  nextDisconnect(): Promise<void> {
    return this.#disconnected.promise;
  }

  /** Resolves once the connection is closed (both sides released it). */
  get closed(): Promise<void> {
    return this.#closedSignal.promise;
  }

  /** One side is done with the connection; the second call closes it. */
  release(): Promise<void> {
    this.#users -= 1;
    if (this.#users === 0) void this.#close();
    return this.#users <= 0 ? this.#closedSignal.promise : Promise.resolve();
  }

  async #close(): Promise<void> {
    // Acks and nacks are fire-and-forget publishes: a flush (PING/PONG) makes sure they arrived.
    if (this.connected) await Promise.race([this.connection.flush().catch(ignore), sleep(Math.min(this.#config.requestTimeoutMs, 2_000), undefined, { ref: false })]);
    await this.connection.close().catch(ignore);
    this.#closedSignal.resolve();
  }

  /** Follows the connection state, for the reconnect backoff and for senders waiting on it. */
  async #watch(): Promise<void> {
    for await (const status of this.connection.status()) {
      if (status.type === 'disconnect') {
        this.#outage.since ??= Date.now();
        this.#disconnected.resolve();
        this.#disconnected = deferred();
      } else if (status.type === 'reconnect') {
        this.#outage.since = undefined;
        this.#reconnected.resolve();
        this.#reconnected = deferred();
      }
    }
    // Closed: nobody waits for a reconnect or a drop any more.
    this.#disconnected.resolve();
  }
}

function isJetStreamDisabled(error: unknown): boolean {
  if (isApiError(error, JetStreamApiCodes.JetStreamNotEnabledForAccount)) return true;
  return error instanceof Error && error.name === 'JetStreamNotEnabled';
}
