import { hostname } from 'node:os';
import pg from 'pg';
import { untilAborted } from '../core/abort.js';
import type { CloudEvent } from '../core/envelope.js';
import { ConfigurationError, ServerUnreachableError, SyncError } from '../core/errors.js';
import { newInstanceId } from '../core/ids.js';
import type { Publisher } from '../transports/transport.js';
import { assertCdcPossible, cdcNames, migrateCdc, type CdcNames } from './cdc-replication.js';
import { OutboxStream, formatLsn, parseLsn, type OutboxChange, type OutboxStreamEvent } from './cdc-stream.js';
import { assertMigrated } from './migrations.js';
import { purgeOutbox } from './outbox-admin.js';
import { DEFAULT_DATABASE_URL, describeAddress } from './pool.js';
import type { RelayHooks, RelayStats } from './relay.js';
import type { SqlPool } from './sql.js';
import { quoteIdent } from './sql.js';

/** Configuration of {@link CdcRelay}: the fields of `RelayConfig` that apply; each optional one names its default. */
export interface CdcRelayConfig {
  /** PostgreSQL URL of the leader session and of the replication session. Default: `DATABASE_URL`, else {@link DEFAULT_DATABASE_URL}. */
  readonly connectionString?: string;
  /** Further `pg.Client` options for both sessions (ssl, password, …); values in `connectionString` take precedence. Default: none. */
  readonly clientConfig?: pg.ClientConfig;
  /** Pool for the retention purge. Default: a one-connection pool the relay opens and closes. */
  readonly pool?: SqlPool;
  /** Schema holding `outbox` and `outbox_relay` (migrated with `migrate()`). Required. */
  readonly schema: string;
  /** Where events go. Required. The relay never closes it. */
  readonly publisher: Publisher;
  /** Name recorded in `outbox_relay.leader`. Default: `<hostname>/<pid>/<random>`. */
  readonly instanceId?: string;
  /** Most rows published per broker round (and read per catch-up query). Default 500. */
  readonly batchSize?: number;
  /** How often a standby tries to take the leader lock. Default 1000 ms. */
  readonly leaderRetryMs?: number;
  /**
   * How often the leader touches `heartbeat_at` (checking its fencing token), reports its
   * position to the server and, when the stream was quiet, writes a position marker so the
   * slot advances while the outbox is idle. Default 2000 ms.
   */
  readonly heartbeatIntervalMs?: number;
  /** Sent rows older than this are deleted. Default 7 days. */
  readonly retentionMs?: number;
  /** How often the leader purges sent rows past retention. Default 60 000 ms. */
  readonly purgeIntervalMs?: number;
  /** `afterPublish` is awaited after the broker ack, before the cursor moves and the slot is acknowledged. Default: none. */
  readonly hooks?: RelayHooks;
}

/** Defaults of {@link CdcRelayConfig}. */
export const DEFAULT_CDC_RELAY_CONFIG = {
  batchSize: 500,
  leaderRetryMs: 1_000,
  heartbeatIntervalMs: 2_000,
  retentionMs: 7 * 24 * 60 * 60 * 1_000,
  purgeIntervalMs: 60_000,
} as const;

/** Counters of one CDC relay instance; see {@link CdcRelay.stats}. */
export interface CdcRelayStats extends RelayStats {
  /** What the instance does: stands by, publishes what committed before streaming (catch-up), or streams. */
  readonly phase: 'standby' | 'catching-up' | 'streaming';
  /** Events published by catch-up reads (included in `published`). */
  readonly caughtUp: number;
  /** Rows the slot delivered that were at or before the cursor, hence published already: not published again. */
  readonly skipped: number;
  /** The last LSN this instance acknowledged to the slot; `null` before the first. */
  readonly acknowledgedLsn: string | null;
}

type ResolvedConfig = Required<Omit<CdcRelayConfig, 'pool' | 'clientConfig' | 'hooks'>> & Pick<CdcRelayConfig, 'pool' | 'clientConfig'> & { hooks: RelayHooks };

const RECONNECT_BACKOFF = { initialMs: 100, maxMs: 5_000 };
const PUBLISH_BACKOFF = { initialMs: 100, maxMs: 5_000 };
/** Re-read delays of the catch-up while transactions older than its horizon are open. */
const HELD_BACK_POLL = { initialMs: 2, maxMs: 100 };
/** Retry delays while the previous leader's replication session still holds the slot. */
const SLOT_BUSY_RETRY = { initialMs: 100, maxMs: 1_000 };

function withDefaults(config: CdcRelayConfig): ResolvedConfig {
  const given = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as Partial<CdcRelayConfig>;
  return {
    ...DEFAULT_CDC_RELAY_CONFIG,
    ...given,
    schema: config.schema,
    publisher: config.publisher,
    connectionString: config.connectionString ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    instanceId: config.instanceId ?? `${hostname()}/${process.pid}/${newInstanceId()}`,
    hooks: config.hooks ?? {},
  };
}

function validate(config: ResolvedConfig): ResolvedConfig {
  quoteIdent(config.schema, 'schema');
  if (typeof config.publisher?.publish !== 'function') throw new ConfigurationError('publisher', config.publisher, 'a Publisher (an object with publish())');
  if (!config.instanceId) throw new ConfigurationError('instanceId', config.instanceId, 'a non-empty string');
  for (const field of ['batchSize', 'leaderRetryMs', 'heartbeatIntervalMs', 'retentionMs', 'purgeIntervalMs'] as const) {
    const value = config[field];
    if (!Number.isInteger(value) || value < 1) throw new ConfigurationError(field, value, 'a positive integer');
  }
  if (config.batchSize > 100_000) throw new ConfigurationError('batchSize', config.batchSize, 'at most 100000');
  return config;
}

/** A row published by the catch-up read (id null: the read found nothing below xmin). */
interface CatchUpRow {
  readonly id: string | null;
  readonly xid: string | null;
  readonly topic: string | null;
  readonly envelope: CloudEvent | null;
  readonly xmin: string;
}

/**
 * "Every transaction with an xid below `xmin` had ended before WAL position `lsn`": once
 * the stream has passed `lsn`, every outbox row with an xid below `xmin` is published,
 * and the cursor may move to the last of them.
 */
interface Probe {
  readonly xmin: bigint;
  readonly lsn: bigint;
}

interface Leadership {
  readonly token: number;
  /** The cursor: every row at or before `(xid, id)` is published and no row can appear there later. */
  xid: string;
  id: string;
  lastBeat: number;
  probe: Probe | undefined;
}

/** One leadership term: ends on close, fencing, a lost connection or a failed stream. */
class Term {
  readonly #controller = new AbortController();
  readonly signal = this.#controller.signal;
  /** Why the term failed; undefined when it ended normally (close, stream closed by the relay). */
  error: Error | undefined;
  stream: OutboxStream | undefined;
  /** Received rows not yet handed to a flush, in commit order. */
  pending: OutboxChange[] = [];
  /** Stream position up to which every transaction is in `pending` or published. */
  through = 0n;
  /** Position acknowledged to the slot. */
  acked = 0n;
  /** Contents of the relay's own markers received since the last flush. */
  markers: string[] = [];
  /** Stream events received; the heartbeat writes a marker when this did not move. */
  events = 0;
  flushing: Promise<void> = Promise.resolve();
  flushScheduled = false;

  constructor(closing: AbortSignal) {
    const end = (): void => this.#controller.abort(closing.reason);
    if (closing.aborted) end();
    closing.addEventListener('abort', end, { once: true });
    this.signal.addEventListener('abort', () => closing.removeEventListener('abort', end), { once: true });
  }

  /** Ends the term; the first error is kept and rethrown by the leader loop. */
  fail(error: unknown): void {
    if (this.signal.aborted) return;
    this.error = error instanceof Error ? error : new Error(String(error));
    this.#controller.abort(error);
  }

  end(): void {
    this.#controller.abort(new Error('leadership term ended'));
  }
}

interface IdleWaiter {
  /** Content of the marker written for this waiter in the current term; undefined until written. */
  token: string | undefined;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Publishes the rows of one schema's outbox by tailing it through logical replication
 * (`pgoutput`, one slot and one publication per outbox) instead of polling: in commit
 * order, within milliseconds of the commit, and not held back by open transactions
 * elsewhere in the cluster. See docs/relay.md, "CDC mode".
 *
 * Delivery is at-least-once: a batch's slot position is acknowledged only after the broker
 * acknowledged the batch, `afterPublish` returned and the cursor in `outbox_relay` was
 * updated under the fencing token; a crash in between makes the slot send it again. It
 * shares the polling relay's advisory lock and fencing token, so one relay (polling or
 * CDC) leads an outbox. A new leader first publishes, by a snapshot-safe read, what
 * committed beyond the cursor before its stream starts (so rows written before the slot
 * existed, or while no relay ran, are never skipped), then streams, skipping rows at or
 * before the cursor. It keeps the cursor snapshot-safe, so the polling relay can take
 * over again at any time.
 */
export class CdcRelay {
  /** The resolved instance id, as recorded in `outbox_relay.leader`. */
  readonly instanceId: string;
  /** The schema whose outbox this relay publishes. */
  readonly schema: string;
  /** Slot, publication and marker prefix of this outbox. */
  readonly names: CdcNames;

  readonly #config: ResolvedConfig;
  readonly #sql: ReturnType<typeof statements>;
  readonly #lockKey: string;
  readonly #closing = new AbortController();
  #state: 'created' | 'starting' | 'running' | 'closed' = 'created';
  #starting: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #leader: Leadership | undefined;
  #term: Term | undefined;
  #client: pg.Client | undefined;
  #phase: CdcRelayStats['phase'] = 'standby';
  #idleWaiters: IdleWaiter[] = [];
  #markerSeq = 0;
  #published = 0;
  #batches = 0;
  #lastBatchSize = 0;
  #caughtUp = 0;
  #skipped = 0;
  #acknowledged: bigint | undefined;
  #nextPurge = 0;
  #purge: Promise<void> | undefined;
  #ownPool: pg.Pool | undefined;
  #standbyWake: (() => void) | undefined;

  /** Validates `config` (throws ConfigurationError); nothing runs before {@link start}. */
  constructor(config: CdcRelayConfig) {
    this.#config = validate(withDefaults(config));
    this.instanceId = this.#config.instanceId;
    this.schema = this.#config.schema;
    this.names = cdcNames(this.schema);
    this.#sql = statements(quoteIdent(this.schema));
    this.#lockKey = `datasync.relay.${this.schema}`; // the polling relay's lock: one relay of either kind leads
  }

  /** True while this instance holds the leader lock and a current fencing token. */
  get isLeader(): boolean {
    return this.#leader !== undefined;
  }

  /** Counters of this instance since start. */
  stats(): CdcRelayStats {
    return {
      published: this.#published,
      batches: this.#batches,
      lastBatchSize: this.#lastBatchSize,
      isLeader: this.isLeader,
      fencingToken: this.#leader?.token ?? null,
      phase: this.#phase,
      caughtUp: this.#caughtUp,
      skipped: this.#skipped,
      acknowledgedLsn: this.#acknowledged === undefined ? null : formatLsn(this.#acknowledged),
    };
  }

  /**
   * Connects and makes the first leadership attempt: resolves once this instance has
   * found another leader, or leads and its publication and slot exist (created if
   * missing; from then on every commit is kept for it). Rejects with SERVER_UNREACHABLE,
   * SCHEMA_NOT_MIGRATED, or CONFIGURATION_INVALID when `wal_level` is not `logical` or
   * the slot name is taken by another database. Later failures are retried with backoff
   * and reported to `hooks.onError`. Calling it again is a no-op.
   */
  start(): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new SyncError('RELAY_CLOSED', 'the relay was closed; create a new one'));
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.#state = 'starting';
    let client: pg.Client;
    try {
      client = await this.#connect();
      try {
        await assertMigrated(client, this.schema, ['outbox', 'outbox_relay']);
        await assertCdcPossible(client, this.schema);
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

  /**
   * Stops publishing, ends the replication session and releases the leader lock. Safe
   * mid-batch: a batch the broker has not acknowledged is abandoned (neither cursor nor
   * slot move; the next leader publishes it again); an acknowledged one is recorded and
   * acknowledged first. Idempotent; pending {@link whenIdle} calls reject with RELAY_CLOSED.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    this.#closing.abort(new SyncError('RELAY_CLOSED', 'the relay was closed'));
    this.#standbyWake?.();
    await this.#starting?.catch(() => undefined);
    await this.#loop;
    await this.#purge;
    await this.#ownPool?.end().catch(() => undefined);
    const waiters = this.#idleWaiters.splice(0);
    for (const waiter of waiters) waiter.reject(this.#closing.signal.reason as Error);
  }

  /**
   * Resolves once everything committed before the call is published and acknowledged:
   * the relay writes a marker into the WAL and waits until its stream has passed it. On a
   * standby, or during the catch-up, it waits until this instance streams. Rejects when
   * `signal` aborts or the relay closes. For tests and orderly shutdowns.
   */
  whenIdle(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new SyncError('RELAY_CLOSED', 'the relay was closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#idleWaiters = this.#idleWaiters.filter((w) => w !== waiter);
        reject(signal?.reason as Error);
      };
      const waiter: IdleWaiter = {
        token: undefined,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#idleWaiters.push(waiter);
      const term = this.#term;
      if (term?.stream && this.#client) this.#writeIdleMarker(this.#client, term, waiter);
    });
  }

  get #isClosing(): boolean {
    return this.#closing.signal.aborted;
  }

  #report(error: unknown): void {
    try {
      this.#config.hooks.onError?.(error);
    } catch {
      // a logging hook must not stop the relay
    }
  }

  #clientConfig(applicationName: string): pg.ClientConfig {
    return {
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      application_name: applicationName,
      ...this.#config.clientConfig,
      connectionString: this.#config.connectionString,
    };
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client(this.#clientConfig(`datasync-cdc-relay:${this.schema}`));
    client.on('error', (error) => {
      this.#report(error);
      this.#term?.fail(error);
      this.#standbyWake?.();
    });
    try {
      await client.connect();
      // A lost cursor update only means rows are published again (docs/relay.md).
      await client.query('SET synchronous_commit = off');
    } catch (cause) {
      await disconnect(client);
      throw new ServerUnreachableError('PostgreSQL', describeAddress(this.#config.connectionString), { cause });
    }
    return client;
  }

  /** Connection loop: reconnects with bounded backoff until closed. */
  async #run(first: pg.Client, started: () => void): Promise<void> {
    let client: pg.Client | undefined = first;
    let backoff = RECONNECT_BACKOFF.initialMs;
    while (!this.#isClosing) {
      try {
        client ??= await this.#connect();
        backoff = RECONNECT_BACKOFF.initialMs;
        await this.#session(client, started);
      } catch (error) {
        if (!this.#isClosing) this.#report(error);
      } finally {
        started();
        if (client) await disconnect(client);
        client = undefined;
      }
      if (this.#isClosing) break;
      await pause(backoff, this.#closing.signal);
      backoff = Math.min(backoff * 2, RECONNECT_BACKOFF.maxMs);
    }
    started();
  }

  /** On one connection: stand by until the lock is free, lead, and stand by again if fenced. */
  async #session(client: pg.Client, started: () => void): Promise<void> {
    while (!this.#isClosing) {
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [this.#lockKey]);
      if (!lock.rows[0]?.ok) {
        started();
        await this.#standBy(this.#config.leaderRetryMs);
        continue;
      }
      try {
        await this.#lead(client, started);
      } catch (error) {
        if (!(error instanceof SyncError && error.code === 'RELAY_FENCED')) throw error;
        this.#report(error);
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [this.#lockKey]);
        await pause(this.#config.leaderRetryMs, this.#closing.signal);
      }
    }
  }

  /** Waits `ms`, or less when the relay closes or the connection fails. */
  async #standBy(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#standbyWake = done;
    });
    this.#standbyWake = undefined;
  }

  /** One leadership term: take over, make sure the slot exists, catch up, stream. */
  async #lead(client: pg.Client, started: () => void): Promise<void> {
    const { rows } = await client.query<{ token: string; xid: string; id: string }>(this.#sql.takeover, [this.instanceId]);
    const row = rows[0];
    if (!row) throw new ConfigurationError('schema', this.schema, 'a schema migrated with migrate() (its outbox_relay row is missing)');
    const leader: Leadership = { token: Number(row.token), xid: row.xid, id: row.id, lastBeat: Date.now(), probe: undefined };
    const term = new Term(this.#closing.signal);
    this.#leader = leader;
    this.#term = term;
    this.#client = client;
    this.#phase = 'catching-up';
    this.#nextPurge = Date.now();
    const beating = this.#keepLeading(client, leader, term).catch((error: unknown) => term.fail(error));
    try {
      const migrated = await untilAborted(migrateCdc(client, this.schema), term.signal);
      if (migrated.slotReplaced) {
        this.#report(new Error(`replication slot ${this.names.slot} could not stream any more (${migrated.slotReplaced}); created it anew, and the catch-up publishes what it held from the outbox`));
      }
      started();
      // Every transaction that committed before the slot's position has an xid below
      // this horizon; the catch-up publishes all of them (and perhaps a few later ones).
      const horizon = await client.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
      if (!(await this.#catchUp(client, leader, term, BigInt(horizon.rows[0]!.xmax)))) return;
      const slot = await client.query<{ lsn: string | null }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [this.names.slot]);
      const confirmed = slot.rows[0]?.lsn;
      if (!confirmed) throw new Error(`replication slot ${this.names.slot} disappeared before streaming began`);
      term.through = term.acked = parseLsn(confirmed);
      const probe = await client.query<{ xmin: string; lsn: string }>(this.#sql.probe);
      leader.probe = toProbe(probe.rows[0]!);
      const stream = await this.#openStream(term, leader);
      if (!stream) return;
      term.stream = stream;
      this.#phase = 'streaming';
      for (const waiter of this.#idleWaiters) this.#writeIdleMarker(client, term, waiter);
      await Promise.race([stream.ended.then(() => term.end(), (error: unknown) => term.fail(error)), aborted(term.signal)]);
    } catch (error) {
      term.fail(error);
    } finally {
      term.end();
      await beating;
      await term.flushing;
      await term.stream?.close();
      this.#phase = 'standby';
      this.#leader = undefined;
      this.#term = undefined;
      this.#client = undefined;
      for (const waiter of this.#idleWaiters) waiter.token = undefined;
    }
    if (term.error !== undefined && !this.#isClosing) throw term.error;
  }

  /**
   * Publishes, in `(xid, id)` order like the polling relay, the rows beyond the cursor
   * below xmin, until a read's xmin has passed `horizon`: then every row committed before
   * the slot's position is at or before the cursor. False when the term ended first.
   */
  async #catchUp(client: pg.Client, leader: Leadership, term: Term, horizon: bigint): Promise<boolean> {
    let heldBackDelay = HELD_BACK_POLL.initialMs;
    while (!term.signal.aborted) {
      const result = await client.query<CatchUpRow>({ name: `datasync_cdc_catch_up`, text: this.#sql.read, values: [leader.xid, leader.id, this.#config.batchSize] });
      const batch = result.rows.filter((r) => r.id !== null);
      if (batch.length > 0) {
        const rows = batch.map((r) => ({ id: r.id!, xid: r.xid!, topic: r.topic!, envelope: r.envelope! }));
        if (!(await this.#publish(rows, term.signal))) return false;
        const last = rows[rows.length - 1]!;
        await this.#record(client, leader, this.#sql.markSent, [last.xid, last.id, rows.length, leader.token]);
        this.#caughtUp += rows.length;
        this.#counted(rows.length);
        if (batch.length === this.#config.batchSize) continue;
      }
      if (BigInt(result.rows[0]!.xmin) >= horizon) return true;
      await pause(heldBackDelay, term.signal);
      heldBackDelay = Math.min(heldBackDelay * 2, HELD_BACK_POLL.maxMs);
    }
    return false;
  }

  /** Opens the replication session, waiting while the previous leader's session still holds the slot. */
  async #openStream(term: Term, leader: Leadership): Promise<OutboxStream | undefined> {
    let delay = SLOT_BUSY_RETRY.initialMs;
    while (!term.signal.aborted) {
      try {
        return await OutboxStream.open({
          clientConfig: this.#clientConfig(`datasync-cdc-stream:${this.schema}`),
          schema: this.schema,
          slot: this.names.slot,
          publication: this.names.publication,
          confirmedLsn: term.acked,
          onEvent: (event) => this.#onEvent(term, leader, event),
        });
      } catch (error) {
        if ((error as { code?: string }).code !== '55006') throw error; // object_in_use: "replication slot … is active for PID …"
        this.#report(error);
        await pause(delay, term.signal);
        delay = Math.min(delay * 2, SLOT_BUSY_RETRY.maxMs);
      }
    }
    return undefined;
  }

  /** Takes one stream event, in commit order; awaiting it pauses the stream (backpressure). */
  async #onEvent(term: Term, leader: Leadership, event: OutboxStreamEvent): Promise<void> {
    if (term.signal.aborted) return;
    term.events += 1;
    switch (event.kind) {
      case 'insert':
        if (atOrBefore(event.row, leader)) {
          this.#skipped += 1;
          return;
        }
        term.pending.push(event.row);
        if (term.pending.length >= this.#config.batchSize) await this.#flush(term, leader);
        return;
      case 'commit':
        term.through = event.endLsn;
        this.#scheduleFlush(term, leader);
        return;
      case 'message':
        if (event.prefix !== this.names.messagePrefix) return;
        // Written outside any transaction: every commit before it in the WAL came before it here.
        if (event.lsn > term.through) term.through = event.lsn;
        term.markers.push(event.content);
        this.#scheduleFlush(term, leader);
        return;
    }
  }

  /** Flushes once the events already received have been taken (a burst becomes one batch). */
  #scheduleFlush(term: Term, leader: Leadership): void {
    if (term.flushScheduled) return;
    term.flushScheduled = true;
    setImmediate(() => {
      term.flushScheduled = false;
      void this.#flush(term, leader);
    });
  }

  /** Queues a flush behind the one running; never rejects (a failure ends the term). */
  #flush(term: Term, leader: Leadership): Promise<void> {
    term.flushing = term.flushing.then(() => this.#flushNow(term, leader)).catch((error: unknown) => term.fail(error));
    return term.flushing;
  }

  /**
   * Publishes the pending rows, then records them (published_total, cursor by probe,
   * fencing check) and acknowledges the stream position they complete. Never acknowledges
   * what the broker has not acknowledged, nor anything once the term has ended.
   */
  async #flushNow(term: Term, leader: Leadership): Promise<void> {
    if (term.signal.aborted) return;
    const rows = term.pending.splice(0);
    const through = term.through;
    const markers = term.markers.splice(0);
    if (rows.length > 0 && !(await this.#publish(rows, term.signal))) return;
    const probe = leader.probe;
    const probeReached = probe !== undefined && through >= probe.lsn;
    if (rows.length > 0 || probeReached) {
      const client = this.#client;
      if (!client || (term.signal.aborted && rows.length === 0)) return;
      const recorded = await this.#record(client, leader, this.#sql.advance, [probeReached ? probe.xmin.toString() : null, leader.xid, leader.id, rows.length, leader.token]);
      // Keep an unreached probe: a newer one would always lie ahead of a busy stream.
      if (probeReached || !probe) leader.probe = toProbe({ xmin: recorded.probe_xmin, lsn: recorded.probe_lsn });
      this.#counted(rows.length);
    }
    // A failed term acknowledges nothing more; a closing one acknowledges what it recorded.
    if (term.signal.aborted && !this.#isClosing) return;
    if (through > term.acked) {
      term.stream?.confirm(through);
      term.acked = through;
      this.#acknowledged = through;
    }
    if (markers.length > 0) {
      const done = this.#idleWaiters.filter((w) => w.token !== undefined && markers.includes(w.token));
      this.#idleWaiters = this.#idleWaiters.filter((w) => !done.includes(w));
      for (const waiter of done) waiter.resolve();
    }
  }

  /**
   * Runs a fenced update of `outbox_relay` (cursor, published_total, heartbeat) and
   * moves the in-memory cursor to what it returns; throws RELAY_FENCED when the token is stale.
   */
  async #record(client: pg.Client, leader: Leadership, text: string, values: unknown[]): Promise<{ xid: string; id: string; probe_xmin: string; probe_lsn: string }> {
    const { rows } = await client.query<{ xid: string; id: string; probe_xmin: string; probe_lsn: string }>(text, values);
    const row = rows[0];
    if (!row) throw fenced(leader.token);
    leader.xid = row.xid;
    leader.id = row.id;
    leader.lastBeat = Date.now();
    return row;
  }

  #counted(rows: number): void {
    if (rows === 0) return;
    this.#published += rows;
    this.#batches += 1;
    this.#lastBatchSize = rows;
  }

  /**
   * Publishes rows grouped by topic (each topic's events in the given order, topics
   * concurrently), retrying failed topics with backoff, then awaits `afterPublish`.
   * False when the term ended first (the batch is abandoned).
   */
  async #publish(rows: readonly OutboxChange[], signal: AbortSignal): Promise<boolean> {
    const pending = new Map<string, CloudEvent[]>();
    for (const row of rows) {
      const events = pending.get(row.topic);
      if (events) events.push(row.envelope);
      else pending.set(row.topic, [row.envelope]);
    }
    const last = rows[rows.length - 1]!;
    let backoff = PUBLISH_BACKOFF.initialMs;
    for (;;) {
      try {
        if (pending.size > 0) {
          const topics = [...pending];
          const outcomes = await untilAborted(
            Promise.allSettled(topics.map(([topic, events]) => this.#config.publisher.publish(topic, events, { signal }))),
            signal,
          );
          outcomes.forEach((outcome, i) => {
            if (outcome.status === 'fulfilled') pending.delete(topics[i]![0]);
          });
          const failure = outcomes.find((o) => o.status === 'rejected');
          if (failure) throw failure.reason;
        }
        if (this.#config.hooks.afterPublish) await untilAborted(Promise.resolve(this.#config.hooks.afterPublish({ count: rows.length, lastId: last.id })), signal);
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        this.#report(error);
        await pause(backoff, signal);
        if (signal.aborted) return false;
        backoff = Math.min(backoff * 2, PUBLISH_BACKOFF.maxMs);
      }
    }
  }

  /**
   * While the term lasts: touches `heartbeat_at` under the fencing token, reports the
   * stream position to the server, writes a marker when the stream was quiet (so an idle
   * outbox's slot advances past other tables' WAL), and purges on schedule.
   */
  async #keepLeading(client: pg.Client, leader: Leadership, term: Term): Promise<void> {
    let eventsAtLastBeat = -1;
    while (!term.signal.aborted) {
      this.#maybePurge();
      const due = leader.lastBeat + this.#config.heartbeatIntervalMs;
      await pause(Math.max(0, Math.min(due, this.#nextPurge) - Date.now()), term.signal);
      if (term.signal.aborted) return;
      if (Date.now() < leader.lastBeat + this.#config.heartbeatIntervalMs) continue;
      // Abortable: queued behind a slot creation that waits for a long transaction, it must not hold up close().
      const beat = await untilAborted(client.query(this.#sql.heartbeat, [leader.token]), term.signal);
      if (beat.rowCount === 0) throw fenced(leader.token);
      leader.lastBeat = Date.now();
      if (term.stream) {
        term.stream.keepAlive();
        if (term.events === eventsAtLastBeat) await untilAborted(client.query(this.#sql.marker, [this.names.messagePrefix, 'heartbeat']), term.signal);
        eventsAtLastBeat = term.events;
      }
    }
  }

  #writeIdleMarker(client: pg.Client, term: Term, waiter: IdleWaiter): void {
    const token = `idle:${++this.#markerSeq}`;
    waiter.token = token;
    client.query(this.#sql.marker, [this.names.messagePrefix, token]).catch((error: unknown) => {
      if (!term.signal.aborted) term.fail(error);
    });
  }

  /** Starts a purge on the side pool when one is due; skips the round while the last one still runs. */
  #maybePurge(): void {
    if (Date.now() < this.#nextPurge || this.#isClosing) return;
    this.#nextPurge = Date.now() + this.#config.purgeIntervalMs;
    if (this.#purge) return;
    const pool = this.#config.pool ?? this.#sidePool();
    this.#purge = purgeOutbox(pool, this.schema, this.#config.retentionMs, { signal: this.#closing.signal })
      .then(
        () => undefined,
        (error: unknown) => {
          if (!this.#isClosing) this.#report(error);
        },
      )
      .finally(() => {
        this.#purge = undefined;
      });
  }

  #sidePool(): pg.Pool {
    if (!this.#ownPool) {
      this.#ownPool = new pg.Pool({ ...this.#config.clientConfig, connectionString: this.#config.connectionString, max: 1, application_name: `datasync-relay-purge:${this.schema}` });
      this.#ownPool.on('error', () => {
        // an idle connection dropped; the pool replaces it on next use
      });
    }
    return this.#ownPool;
  }
}

/**
 * Creates a {@link CdcRelay} and starts it; see {@link CdcRelay.start} for what
 * "started" means and what it rejects with.
 */
export async function startCdcRelay(config: CdcRelayConfig): Promise<CdcRelay> {
  const relay = new CdcRelay(config);
  await relay.start();
  return relay;
}

function statements(schema: string) {
  const outbox = `${schema}.outbox`;
  const relay = `${schema}.outbox_relay`;
  const returning = `RETURNING position_xid::text AS xid, position_id::text AS id,
      pg_snapshot_xmin(pg_current_snapshot())::text AS probe_xmin, pg_current_wal_insert_lsn()::text AS probe_lsn`;
  return {
    takeover: `UPDATE ${relay} SET fencing_token = fencing_token + 1, leader = $1, leader_since = now(), heartbeat_at = now()
      WHERE outbox = 'outbox' RETURNING fencing_token::text AS token, position_xid::text AS xid, position_id::text AS id`,
    // The polling relay's read, with the snapshot's xmin on every row (one row when nothing is below it).
    read: `SELECT b.id::text AS id, b.xid::text AS xid, b.topic, b.envelope, pg_snapshot_xmin(pg_current_snapshot())::text AS xmin
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (
        SELECT o.id, o.xid, o.topic, o.envelope FROM ${outbox} o
        WHERE (o.xid, o.id) > ($1::xid8, $2::bigint) AND o.xid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY o.xid, o.id LIMIT $3
      ) b ON true
      ORDER BY b.xid, b.id`,
    markSent: `UPDATE ${relay} SET position_xid = $1::xid8, position_id = $2::bigint, published_total = published_total + $3, heartbeat_at = now()
      WHERE outbox = 'outbox' AND fencing_token = $4 ${returning}`,
    // Moves the cursor to the last row below a reached probe's xmin (never back), counts the
    // batch, and returns a new probe: xmin of this statement's snapshot, and the WAL insert
    // position read after it (every transaction below that xmin had committed before it).
    advance: `WITH next AS (
        SELECT o.xid, o.id FROM ${outbox} o
        WHERE o.xid < $1::xid8 AND (o.xid, o.id) > ($2::xid8, $3::bigint)
        ORDER BY o.xid DESC, o.id DESC LIMIT 1)
      UPDATE ${relay} SET position_xid = COALESCE((SELECT xid FROM next), position_xid), position_id = COALESCE((SELECT id FROM next), position_id),
        published_total = published_total + $4, heartbeat_at = now()
      WHERE outbox = 'outbox' AND fencing_token = $5 ${returning}`,
    probe: `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, pg_current_wal_insert_lsn()::text AS lsn`,
    heartbeat: `UPDATE ${relay} SET heartbeat_at = now() WHERE outbox = 'outbox' AND fencing_token = $1`,
    // Non-transactional, so it is decoded where it is written, between commits.
    marker: `SELECT pg_logical_emit_message(false, $1, $2)`,
  };
}

function toProbe(row: { xmin: string; lsn: string }): Probe {
  return { xmin: BigInt(row.xmin), lsn: parseLsn(row.lsn) };
}

/** True when `row` is at or before the cursor (published already). */
function atOrBefore(row: OutboxChange, leader: Leadership): boolean {
  const xid = BigInt(row.xid);
  const cursorXid = BigInt(leader.xid);
  return xid < cursorXid || (xid === cursorXid && BigInt(row.id) <= BigInt(leader.id));
}

function fenced(token: number): SyncError {
  return new SyncError('RELAY_FENCED', `fencing token ${token} is stale: another relay took over this outbox; standing by`);
}

/** Resolves when `signal` aborts; never rejects. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Ends a client, giving up after a second (a dead socket may never confirm). */
async function disconnect(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
  clearTimeout(timer);
}

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
