import type pg from 'pg';
import { untilAborted } from '../core/abort.js';
import { ConfigurationError, SyncError } from '../core/errors.js';
import { assertMigrated } from './migrations.js';
import type { RelayStats, ResolvedRelayBaseConfig } from './relay-config.js';
import { pause } from '../core/abort.js';
import { disconnect, openRelaySession } from './relay-connection.js';
import { RetentionPurge } from './relay-purge.js';
import { quoteIdent } from './sql.js';
import { Wakeup } from '../core/wakeup.js';

/** One leadership term of a relay: its fencing token, the cursor and the last heartbeat. */
export interface Leadership {
  readonly token: number;
  /** The cursor: every row at or before `(xid, id)` is published. */
  xid: string;
  id: string;
  /** When `heartbeat_at` was last touched (epoch ms). */
  lastBeat: number;
}

/** What a relay does its own way; {@link RelayLeadership} does the rest. */
export interface RelayRole {
  /** `application_name` of the leader session. */
  readonly applicationName: string;
  /** Further start-up checks on the first connection, once the outbox tables were found. */
  readonly checkServer?: (client: pg.Client) => Promise<void>;
  /**
   * Publishes for the term `leader` just took over, on the session holding the lock, and
   * calls `started` once under way (start() resolves then). Returns when the relay closes;
   * throws RELAY_FENCED to stand by again, anything else to reconnect.
   */
  readonly lead: (client: pg.Client, leader: Leadership, started: () => void) => Promise<void>;
  /** Told of an error on the leader session (after `hooks.onError`), to end the term at once. */
  readonly onSessionError?: (error: Error) => void;
}

const RECONNECT_BACKOFF = { initialMs: 100, maxMs: 5_000 };

/**
 * The part of a relay that does not depend on how it finds rows (docs/relay.md, section 3):
 * the start/close lifecycle, the leader session (reconnected with backoff), the advisory
 * lock `datasync.relay.<schema>` (the same for the polling and the CDC relay, so one relay of
 * either kind leads an outbox), the takeover that increments the fencing token, heartbeats,
 * the retention purge, the counters, and the bookkeeping of `whenIdle()` callers, whose
 * state `W` the relay defines. The relay supplies a {@link RelayRole}.
 */
export class RelayLeadership<W extends object> {
  /** The relay's resolved configuration (the shared fields). */
  readonly config: ResolvedRelayBaseConfig;
  /** Wakes a standby's wait for the lock (also on close and on a session error); the polling relay's idle wait uses it too. */
  readonly wakeup = new Wakeup();
  /** Callers of `whenIdle()` still waiting; the relay resolves them, close() rejects them. */
  readonly idleWaiters = new IdleWaiters<W>();
  /** The leader's retention purge; the role calls `maybeStart()` while it leads. A new term makes one due at once. */
  readonly purge: RetentionPurge;

  readonly #role: RelayRole;
  readonly #closing = new AbortController();
  readonly #lockKey: string;
  readonly #sql: ReturnType<typeof statements>;
  #state: 'created' | 'starting' | 'running' | 'closed' = 'created';
  #starting: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #leader: Leadership | undefined;
  #published = 0;
  #batches = 0;
  #lastBatchSize = 0;
  #unwatchOutbox: (() => void) | undefined;

  constructor(config: ResolvedRelayBaseConfig, role: RelayRole) {
    this.config = config;
    this.#role = role;
    this.#lockKey = `datasync.relay.${config.schema}`;
    this.#sql = statements(quoteIdent(config.schema));
    this.purge = new RetentionPurge(config, this.#closing.signal, (error) => this.report(error));
  }

  /** Aborts, with RELAY_CLOSED, when close() begins. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  get isClosing(): boolean {
    return this.#closing.signal.aborted;
  }

  /** True while this instance holds the leader lock and a current fencing token. */
  get isLeader(): boolean {
    return this.#leader !== undefined;
  }

  /** The counters every relay reports. */
  stats(): RelayStats {
    return {
      published: this.#published,
      batches: this.#batches,
      lastBatchSize: this.#lastBatchSize,
      isLeader: this.isLeader,
      fencingToken: this.#leader?.token ?? null,
    };
  }

  /** Counts a batch of `rows` events marked sent (none when 0). */
  countBatch(rows: number): void {
    if (rows === 0) return;
    this.#published += rows;
    this.#batches += 1;
    this.#lastBatchSize = rows;
  }

  /**
   * Connects, checks the schema (SCHEMA_NOT_MIGRATED) and the role's `checkServer`, and
   * resolves once the first leadership attempt is done. Rejects with RELAY_CLOSED after
   * close(), ServerUnreachableError when PostgreSQL does not answer, and whatever a check
   * threw (the instance is then closed). Calling it again returns the same promise.
   */
  start(): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new SyncError('RELAY_CLOSED', 'the relay was closed; create a new one'));
    if (!this.#starting) {
      // every instance reports the backlog (a standby too: the leader may be in another process)
      if (this.config.pool) this.#unwatchOutbox = this.config.metrics?.watchOutbox(this.config.schema, this.config.pool);
      this.#starting = this.#start();
    }
    return this.#starting;
  }

  /** Counts, per topic, events the broker acknowledged (`datasync_events_published_total`); pass it to publishBatch. */
  readonly countPublished = (topic: string, count: number): void => {
    this.config.metrics?.recordPublished(this.config.schema, topic, count);
  };

  /**
   * Aborts {@link closing}, waits until the session loop, the role's term and a running
   * purge have ended (the lock goes with the session), then rejects the remaining
   * `whenIdle()` callers with RELAY_CLOSED. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /**
   * The part of `whenIdle()` both relays share: rejects at once with RELAY_CLOSED once the
   * relay is closed, or with the signal's reason when it has aborted; otherwise adds
   * `waiter`, calls `added` with it, and settles when the relay resolves it, `signal`
   * aborts (the waiter is dropped) or the relay closes.
   */
  whenIdle(waiter: W, signal: AbortSignal | undefined, added: (waiter: W) => void): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new SyncError('RELAY_CLOSED', 'the relay was closed'));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const idle = this.idleWaiters.add(waiter, signal);
    added(waiter);
    return idle;
  }

  /** Passes an error the relay recovers from to `hooks.onError`; a throwing hook is ignored. */
  report(error: unknown): void {
    try {
      this.config.hooks.onError?.(error);
    } catch {
      // a logging hook must not stop the relay
    }
  }

  /**
   * Touches `heartbeat_at` under the term's fencing token; throws RELAY_FENCED when the
   * token is stale. With `signal`, stops waiting for the answer when it aborts.
   */
  async heartbeat(client: pg.Client, leader: Leadership, signal?: AbortSignal): Promise<void> {
    const query = client.query(this.#sql.heartbeat, [leader.token]);
    const beat = await (signal ? untilAborted(query, signal) : query);
    if (beat.rowCount === 0) throw fencedError(leader.token);
    leader.lastBeat = Date.now();
  }

  async #start(): Promise<void> {
    this.#state = 'starting';
    let client: pg.Client;
    try {
      client = await this.#connect();
      try {
        await assertMigrated(client, this.config.schema, ['outbox', 'outbox_relay']);
        await this.#role.checkServer?.(client);
      } catch (error) {
        await disconnect(client);
        throw error;
      }
    } catch (error) {
      this.#state = 'closed';
      throw error;
    }
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    this.#loop = this.#run(client, started);
    if (this.#state === 'starting') this.#state = 'running';
    await ready;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    this.#unwatchOutbox?.();
    this.#closing.abort(new SyncError('RELAY_CLOSED', 'the relay was closed'));
    this.wakeup.wake();
    await this.#starting?.catch(() => undefined);
    await this.#loop;
    await this.purge.close();
    this.idleWaiters.rejectAll(this.#closing.signal.reason as Error);
  }

  #connect(): Promise<pg.Client> {
    return openRelaySession(this.config, this.#role.applicationName, (error) => {
      this.report(error);
      this.#role.onSessionError?.(error);
      this.wakeup.wake();
    });
  }

  /** Connection loop: reconnects with bounded backoff until closed. */
  async #run(first: pg.Client, started: () => void): Promise<void> {
    let client: pg.Client | undefined = first;
    let backoff = RECONNECT_BACKOFF.initialMs;
    while (!this.isClosing) {
      try {
        client ??= await this.#connect();
        backoff = RECONNECT_BACKOFF.initialMs;
        await this.#session(client, started);
      } catch (error) {
        if (!this.isClosing) this.report(error);
      } finally {
        started();
        if (client) await disconnect(client);
        client = undefined;
      }
      if (this.isClosing) break;
      await pause(backoff, this.#closing.signal);
      backoff = Math.min(backoff * 2, RECONNECT_BACKOFF.maxMs);
    }
    started();
    if (client) await disconnect(client); // closed before the loop began
  }

  /** On one connection: stand by until the lock is free, lead, and stand by again if fenced. */
  async #session(client: pg.Client, started: () => void): Promise<void> {
    while (!this.isClosing) {
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [this.#lockKey]);
      if (!lock.rows[0]?.ok) {
        started();
        await this.wakeup.wait(this.config.leaderRetryMs);
        continue;
      }
      try {
        await this.#lead(client, started);
      } catch (error) {
        if (!isFenced(error)) throw error;
        this.report(error);
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [this.#lockKey]);
        await pause(this.config.leaderRetryMs, this.#closing.signal);
      }
    }
  }

  /** Takes over (a new fencing token, the cursor) and lets the role lead until the term ends. */
  async #lead(client: pg.Client, started: () => void): Promise<void> {
    const { rows } = await client.query<{ token: string; xid: string; id: string }>(this.#sql.takeover, [this.config.instanceId]);
    const row = rows[0];
    if (!row) throw new ConfigurationError('schema', this.config.schema, 'a schema migrated with migrate() (its outbox_relay row is missing)');
    const leader: Leadership = { token: Number(row.token), xid: row.xid, id: row.id, lastBeat: Date.now() };
    this.#leader = leader;
    this.purge.dueNow();
    try {
      await this.#role.lead(client, leader, started);
    } finally {
      this.#leader = undefined;
    }
  }
}

/** RELAY_FENCED: the term's fencing token is stale because another relay took over. */
export function fencedError(token: number): SyncError {
  return new SyncError('RELAY_FENCED', `fencing token ${token} is stale: another relay took over this outbox; standing by`);
}

/** True for RELAY_FENCED. */
export function isFenced(error: unknown): boolean {
  return error instanceof SyncError && error.code === 'RELAY_FENCED';
}

function statements(schema: string) {
  const relay = `${schema}.outbox_relay`;
  return {
    takeover: `UPDATE ${relay} SET fencing_token = fencing_token + 1, leader = $1, leader_since = now(), heartbeat_at = now()
      WHERE outbox = 'outbox' RETURNING fencing_token::text AS token, position_xid::text AS xid, position_id::text AS id`,
    heartbeat: `UPDATE ${relay} SET heartbeat_at = now() WHERE outbox = 'outbox' AND fencing_token = $1`,
  };
}

/** Callers of `whenIdle()` still waiting, each with the state `W` its relay keeps for it, in arrival order. */
export class IdleWaiters<W extends object> {
  readonly #waiters = new Map<W, { resolve(): void; reject(error: Error): void }>();

  get size(): number {
    return this.#waiters.size;
  }

  /** The waiting callers' states, oldest first. */
  states(): IterableIterator<W> {
    return this.#waiters.keys();
  }

  /** Adds `waiter` (a fresh object); the promise rejects with the signal's reason when `signal` aborts, dropping it. */
  add(waiter: W, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        reject(signal?.reason as Error);
      };
      this.#waiters.set(waiter, {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves and drops the waiters `done` selects. */
  resolve(done: (waiter: W) => boolean): void {
    for (const [waiter, settle] of [...this.#waiters]) {
      if (!done(waiter)) continue;
      this.#waiters.delete(waiter);
      settle.resolve();
    }
  }

  /** Rejects and drops every waiter. */
  rejectAll(error: Error): void {
    const settles = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const settle of settles) settle.reject(error);
  }
}
