import type pg from 'pg';
import { ServerUnreachableError, SyncError } from '../../core/errors.js';
import { pause } from '../../core/abort.js';
import type { ResolvedPostgresTransportConfig } from './config.js';
import type { TopicListener } from './listener.js';
import type { TopicNotifier } from './notifier.js';
import type { TransportStatements } from './statements.js';

/** What the publisher, the subscriber and their subscriptions share. */
export interface TransportConnection {
  readonly pool: pg.Pool;
  readonly config: ResolvedPostgresTransportConfig;
  readonly statements: TransportStatements;
  readonly listener: TopicListener;
  readonly notifier: TopicNotifier;
  /** `host:port/database`, for errors. */
  readonly address: string;
  /** Passes an error the transport recovered from to `config.onError`, never throwing. */
  readonly report: (error: unknown) => void;
}

/** SQLSTATE classes and socket codes that mean "the server is not there", not "the statement failed". */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);

/** True when `error` says the connection to PostgreSQL failed or was cut (rather than a statement error). */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true;
  return /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect/i.test(error.message);
}

/** A lost connection as ServerUnreachableError naming the address; any other error as it is. */
export function describeFailure(error: unknown, address: string): Error {
  if (isConnectionError(error)) return new ServerUnreachableError('PostgreSQL', address, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}

/** Deadlock and serialization failures: the statement is simply sent again. */
const CONFLICT_CODES = new Set(['40P01', '40001']);
const RETRY_BACKOFF = { initialMs: 100, maxMs: 2_000 };

/**
 * Runs `run` until it succeeds, retrying lost connections (at once, then with backoff up to
 * 2 s, until `deadline`, epoch ms) and conflicts (deadlock, serialization: at once, 3 times).
 * Returns `undefined` without running again once `signal` aborts; other errors reject at once,
 * and a lost connection past the deadline rejects with ServerUnreachableError naming `address`.
 */
export async function retryUntil<T>(run: () => Promise<T>, options: { signal: AbortSignal; deadline: number; address: string }): Promise<T | undefined> {
  let backoff = RETRY_BACKOFF.initialMs;
  let firstLoss = true;
  let conflicts = 0;
  for (;;) {
    if (options.signal.aborted) return undefined;
    try {
      return await run();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const conflict = typeof code === 'string' && CONFLICT_CODES.has(code) && ++conflicts <= 3;
      if (!conflict && !isConnectionError(error)) throw error instanceof Error ? error : new Error(String(error));
      if (conflict || firstLoss) {
        // A conflict is simply run again; so is the first lost connection, which is most often a
        // pooled connection the server closed (it restarted) and the pool had not noticed yet.
        firstLoss &&= conflict;
        continue;
      }
      if (Date.now() + backoff > options.deadline) throw describeFailure(error, options.address);
      await pause(backoff, options.signal);
      backoff = Math.min(backoff * 2, RETRY_BACKOFF.maxMs);
    }
  }
}

/** TRANSPORT_CLOSED for the given side. */
export function closedError(side: 'publisher' | 'subscriber'): SyncError {
  return new SyncError('TRANSPORT_CLOSED', `the postgres transport's ${side} is closed`);
}
