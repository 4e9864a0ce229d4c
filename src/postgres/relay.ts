import { untilAborted } from '../core/abort.js';
import { hostname } from 'node:os';
import pg from 'pg';
import type { CloudEvent } from '../core/envelope.js';
import { ConfigurationError, ServerUnreachableError, SyncError } from '../core/errors.js';
import { newInstanceId } from '../core/ids.js';
import type { Publisher } from '../transports/transport.js';
import { purgeOutbox } from './outbox-admin.js';
import { DEFAULT_DATABASE_URL, describeAddress } from './pool.js';
import type { SqlPool } from './sql.js';
import { assertMigrated } from './migrations.js';
import { outboxChannel, quoteIdent } from './sql.js';

/** Test and logging hooks of {@link OutboxRelay}. */
export interface RelayHooks {
  /**
   * Awaited after the broker acknowledged a batch and before the cursor moves. If it
   * throws, the batch counts as failed and is published again after backoff.
   */
  readonly afterPublish?: (batch: { count: number; lastId: string }) => Promise<void> | void;
  /** Receives every error the relay recovers from (publish failure, lost connection, RELAY_FENCED). */
  readonly onError?: (error: unknown) => void;
}

/** Configuration of {@link OutboxRelay}; every optional field names its default. */
export interface RelayConfig {
  /** PostgreSQL URL of the leader session. Default: `DATABASE_URL`, else {@link DEFAULT_DATABASE_URL}. */
  readonly connectionString?: string;
  /** Further `pg.Client` options (ssl, password, …); values in `connectionString` take precedence. Default: none. */
  readonly clientConfig?: pg.ClientConfig;
  /** Pool for queries off the leader session (retention purge). Default: a one-connection pool the relay opens and closes. */
  readonly pool?: SqlPool;
  /** Schema holding `outbox` and `outbox_relay` (migrated with `migrate()`). Required. */
  readonly schema: string;
  /** Where events go. Required. The relay never closes it. */
  readonly publisher: Publisher;
  /** Name recorded in `outbox_relay.leader`. Default: `<hostname>/<pid>/<random>`. */
  readonly instanceId?: string;
  /** Most rows read, published and marked sent per round. Default 500. */
  readonly batchSize?: number;
  /**
   * Longest wait for a NOTIFY after reads that found nothing. Default 1000 ms. The wait
   * starts at `activePollMs` after the last non-empty read and doubles up to this, so a
   * busy outbox is read continuously and an idle one about once a second.
   */
  readonly pollIntervalMs?: number;
  /**
   * Wait after a read that found rows, before the next read; a NOTIFY does not shorten it.
   * Doubles on each empty read up to `pollIntervalMs`. Default 5 ms: under steady load a
   * few events gather per round, so the relay and every consumer spend fewer statements
   * and WAL flushes per event.
   */
  readonly activePollMs?: number;
  /** How often a standby tries to take the leader lock. Default 1000 ms. */
  readonly leaderRetryMs?: number;
  /** Longest time the leader goes without touching `heartbeat_at` (and checking its fencing token). Default 2000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Sent rows older than this are deleted. Default 7 days. */
  readonly retentionMs?: number;
  /** How often the leader purges sent rows past retention. Default 60 000 ms. */
  readonly purgeIntervalMs?: number;
  /** See {@link RelayHooks}. Default: none. */
  readonly hooks?: RelayHooks;
}

/** Defaults of {@link RelayConfig}. */
export const DEFAULT_RELAY_CONFIG = {
  batchSize: 500,
  pollIntervalMs: 1_000,
  activePollMs: 5,
  leaderRetryMs: 1_000,
  heartbeatIntervalMs: 2_000,
  retentionMs: 7 * 24 * 60 * 60 * 1_000,
  purgeIntervalMs: 60_000,
} as const;

/** Counters of one relay instance; see {@link OutboxRelay.stats}. */
export interface RelayStats {
  /** Events this instance published and marked sent. */
  readonly published: number;
  /** Batches this instance marked sent. */
  readonly batches: number;
  /** Size of the last batch marked sent; 0 before the first. */
  readonly lastBatchSize: number;
  readonly isLeader: boolean;
  /** The fencing token held while leader; `null` on a standby. */
  readonly fencingToken: number | null;
}

type ResolvedConfig = Required<Omit<RelayConfig, 'pool' | 'clientConfig' | 'hooks'>> & Pick<RelayConfig, 'pool' | 'clientConfig'> & { hooks: RelayHooks };

const RECONNECT_BACKOFF = { initialMs: 100, maxMs: 5_000 };
const PUBLISH_BACKOFF = { initialMs: 100, maxMs: 5_000 };
/** Re-poll delays while committed rows wait behind an older open transaction. */
const HELD_BACK_POLL = { initialMs: 2, maxMs: 100 };
/** pg_notify rejects channel names of 64 bytes or more. */
const MAX_CHANNEL_LENGTH = 63;

function withDefaults(config: RelayConfig): ResolvedConfig {
  return {
    ...DEFAULT_RELAY_CONFIG,
    ...stripUndefined(config),
    schema: config.schema,
    publisher: config.publisher,
    connectionString: config.connectionString ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    instanceId: config.instanceId ?? `${hostname()}/${process.pid}/${newInstanceId()}`,
    hooks: config.hooks ?? {},
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(config: ResolvedConfig): ResolvedConfig {
  quoteIdent(config.schema, 'schema');
  if (outboxChannel(config.schema).length > MAX_CHANNEL_LENGTH) {
    throw new ConfigurationError('schema', config.schema, `at most ${MAX_CHANNEL_LENGTH - outboxChannel('').length} characters, so its NOTIFY channel name fits`);
  }
  if (typeof config.publisher?.publish !== 'function') throw new ConfigurationError('publisher', config.publisher, 'a Publisher (an object with publish())');
  if (!config.instanceId) throw new ConfigurationError('instanceId', config.instanceId, 'a non-empty string');
  const positive = ['batchSize', 'pollIntervalMs', 'activePollMs', 'leaderRetryMs', 'heartbeatIntervalMs', 'retentionMs', 'purgeIntervalMs'] as const;
  for (const field of positive) {
    const value = config[field];
    if (!Number.isInteger(value) || value < 1) throw new ConfigurationError(field, value, 'a positive integer');
  }
  if (config.batchSize > 100_000) throw new ConfigurationError('batchSize', config.batchSize, 'at most 100000');
  if (config.activePollMs > config.pollIntervalMs) throw new ConfigurationError('activePollMs', config.activePollMs, `at most pollIntervalMs (${config.pollIntervalMs})`);
  return config;
}

interface OutboxRow {
  readonly id: string | null;
  readonly xid: string | null;
  readonly topic: string | null;
  readonly envelope: CloudEvent | null;
  readonly held_back: boolean;
}

interface Leadership {
  readonly token: number;
  xid: string;
  id: string;
  lastBeat: number;
}

interface IdleWaiter {
  readonly after: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Publishes committed outbox rows of one schema, in `(xid, id)` order, to a
 * {@link Publisher}; see docs/relay.md.
 *
 * Delivery is at-least-once: a batch is marked sent (the cursor in `outbox_relay`
 * moves) only after the broker acknowledged it, so a crash in between publishes
 * it again. Rows are read only below the snapshot's xmin, so a transaction that
 * commits late is never skipped. Of all relays on one outbox, one is leader
 * (session advisory lock + fencing token); the others stand by and take over
 * within `leaderRetryMs` after the leader's connection ends.
 */
export class OutboxRelay {
  /** The resolved instance id, as recorded in `outbox_relay.leader`. */
  readonly instanceId: string;
  /** The schema whose outbox this relay publishes. */
  readonly schema: string;

  readonly #config: ResolvedConfig;
  readonly #sql: ReturnType<typeof statements>;
  readonly #lockKey: string;
  readonly #channel: string;
  readonly #closing = new AbortController();
  readonly #wake = new Wakeup();
  #state: 'created' | 'starting' | 'running' | 'closed' = 'created';
  #starting: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #leader: Leadership | undefined;
  #reads = 0;
  #idleWaiters: IdleWaiter[] = [];
  #published = 0;
  #batches = 0;
  #lastBatchSize = 0;
  #nextPurge = 0;
  #purge: Promise<void> | undefined;
  #ownPool: pg.Pool | undefined;

  /** Validates `config` (throws ConfigurationError); nothing runs before {@link start}. */
  constructor(config: RelayConfig) {
    this.#config = validate(withDefaults(config));
    this.instanceId = this.#config.instanceId;
    this.schema = this.#config.schema;
    this.#sql = statements(quoteIdent(this.schema));
    this.#lockKey = `datasync.relay.${this.schema}`;
    this.#channel = outboxChannel(this.schema);
  }

  /** True while this instance holds the leader lock and a current fencing token. */
  get isLeader(): boolean {
    return this.#leader !== undefined;
  }

  /** Counters of this instance since start. */
  stats(): RelayStats {
    return {
      published: this.#published,
      batches: this.#batches,
      lastBatchSize: this.#lastBatchSize,
      isLeader: this.isLeader,
      fencingToken: this.#leader?.token ?? null,
    };
  }

  /**
   * Connects and makes the first leadership attempt: resolves once this instance is
   * leader or has found another leader. Rejects with ServerUnreachableError when
   * PostgreSQL does not answer and SCHEMA_NOT_MIGRATED when the schema lacks the outbox tables;
   * later connection losses are retried with backoff. Calling it again is a no-op.
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
   * Stops publishing and releases the leader lock. Safe mid-batch: a batch whose
   * publish has not been acknowledged is abandoned (the cursor stays, the next
   * leader publishes it again); an acknowledged one is marked sent first.
   * Idempotent; pending {@link whenIdle} calls reject.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    this.#closing.abort(new SyncError('RELAY_CLOSED', 'the relay was closed'));
    this.#wake.wake();
    await this.#starting?.catch(() => undefined);
    await this.#loop;
    await this.#purge;
    await this.#ownPool?.end().catch(() => undefined);
    this.#rejectIdleWaiters(this.#closing.signal.reason as Error);
  }

  /** Makes the relay read the outbox now instead of at its next notification or poll. */
  wake(): void {
    this.#wake.wake();
  }

  /**
   * Resolves at the first read, begun after this call, that finds nothing below the
   * snapshot's xmin beyond the cursor: everything committed so far (and not held back
   * by an older open transaction) is published and marked sent. On a standby it waits
   * until this instance leads. Rejects when `signal` aborts or the relay closes. For tests.
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
        after: this.#reads,
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
      this.#wake.wake();
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

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      application_name: `datasync-relay:${this.schema}`,
      ...this.#config.clientConfig,
      connectionString: this.#config.connectionString,
    });
    client.on('error', (error) => {
      this.#report(error);
      this.#wake.wake();
    });
    client.on('notification', (message) => {
      if (message.channel === this.#channel) this.#wake.wake();
    });
    try {
      await client.connect();
      // A lost cursor update only means a batch is published again, so the relay's
      // commits need not wait for the WAL flush (see docs/relay.md).
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
        this.#leader = undefined;
        started();
        if (client) await disconnect(client);
        client = undefined;
      }
      if (this.#isClosing) break;
      await pause(backoff, this.#closing.signal);
      backoff = Math.min(backoff * 2, RECONNECT_BACKOFF.maxMs);
    }
    started();
    if (client) await disconnect(client);
  }

  /** On one connection: stand by until the lock is free, lead, and stand by again if fenced. */
  async #session(client: pg.Client, started: () => void): Promise<void> {
    while (!this.#isClosing) {
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [this.#lockKey]);
      if (!lock.rows[0]?.ok) {
        started();
        await this.#wake.wait(this.#config.leaderRetryMs);
        continue;
      }
      try {
        await this.#lead(client, started);
      } catch (error) {
        if (!(error instanceof SyncError && error.code === 'RELAY_FENCED')) throw error;
        this.#leader = undefined;
        this.#report(error);
        await client.query(`UNLISTEN ${quoteIdent(this.#channel, 'channel')}`);
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [this.#lockKey]);
        await pause(this.#config.leaderRetryMs, this.#closing.signal);
      }
    }
  }

  /** The leader's loop: read, publish, mark sent; wait for a notification when idle. */
  async #lead(client: pg.Client, started: () => void): Promise<void> {
    const { rows } = await client.query<{ token: string; xid: string; id: string }>(this.#sql.takeover, [this.instanceId]);
    const row = rows[0];
    if (!row) throw new ConfigurationError('schema', this.schema, 'a schema migrated with migrate() (its outbox_relay row is missing)');
    await client.query(`LISTEN ${quoteIdent(this.#channel, 'channel')}`);
    const leader: Leadership = { token: Number(row.token), xid: row.xid, id: row.id, lastBeat: Date.now() };
    this.#leader = leader;
    this.#nextPurge = Date.now();
    started();
    let heldBackDelay = HELD_BACK_POLL.initialMs;
    let idleDelay = this.#config.activePollMs;
    while (!this.#isClosing) {
      this.#maybePurge();
      this.#wake.clear();
      const read = ++this.#reads;
      const result = await client.query<OutboxRow>({
        name: 'datasync_relay_read',
        text: this.#sql.read,
        values: [leader.xid, leader.id, this.#config.batchSize],
      });
      const batch = result.rows.filter((r) => r.id !== null);
      const heldBack = result.rows[0]?.held_back ?? false;
      if (batch.length > 0) {
        idleDelay = this.#config.activePollMs;
        if (!(await this.#publish(client, leader, batch))) return;
        await this.#markSent(client, leader, batch);
        // A full batch: more may be waiting. A whenIdle() caller needs an empty read to resolve.
        if (batch.length === this.#config.batchSize || this.#idleWaiters.length > 0) continue;
      } else {
        this.#resolveIdleWaiters(read);
      }
      let delay = idleDelay;
      idleDelay = Math.min(idleDelay * 2, this.#config.pollIntervalMs);
      if (heldBack) {
        delay = Math.min(delay, heldBackDelay);
        heldBackDelay = Math.min(heldBackDelay * 2, HELD_BACK_POLL.maxMs);
      } else {
        heldBackDelay = HELD_BACK_POLL.initialMs;
      }
      // While rows keep coming, read on the short schedule only: a NOTIFY (one per owner
      // commit, at most) would otherwise shrink every round to an event or two.
      await this.#idle(client, leader, Date.now() + delay, batch.length === 0);
    }
  }

  /**
   * Waits until `readAt`, or a wake-up when `wakeable`, keeping the heartbeat and the
   * purge schedule meanwhile. Closing always ends the wait.
   */
  async #idle(client: pg.Client, leader: Leadership, readAt: number, wakeable: boolean): Promise<void> {
    const { heartbeatIntervalMs } = this.#config;
    while (!this.#isClosing) {
      const now = Date.now();
      if (now >= readAt) return;
      if (now >= leader.lastBeat + heartbeatIntervalMs) await this.#heartbeat(client, leader);
      this.#maybePurge();
      const until = Math.min(readAt, leader.lastBeat + heartbeatIntervalMs, this.#nextPurge);
      if ((await this.#wake.wait(Math.max(0, until - Date.now()))) && (wakeable || this.#isClosing)) return;
    }
  }

  /**
   * Publishes one batch, retrying with backoff until the broker acknowledges every
   * topic. Returns false when the relay closed first (the batch is abandoned).
   */
  async #publish(client: pg.Client, leader: Leadership, batch: readonly OutboxRow[]): Promise<boolean> {
    const pending = new Map<string, CloudEvent[]>();
    for (const row of batch) {
      const events = pending.get(row.topic!);
      if (events) events.push(row.envelope!);
      else pending.set(row.topic!, [row.envelope!]);
    }
    const signal = this.#closing.signal;
    const last = batch[batch.length - 1]!;
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
        if (this.#config.hooks.afterPublish) await untilAborted(Promise.resolve(this.#config.hooks.afterPublish({ count: batch.length, lastId: last.id! })), signal);
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        this.#report(error);
        await pause(backoff, signal);
        if (signal.aborted) return false;
        backoff = Math.min(backoff * 2, PUBLISH_BACKOFF.maxMs);
        if (Date.now() >= leader.lastBeat + this.#config.heartbeatIntervalMs) await this.#heartbeat(client, leader);
      }
    }
  }

  /** Touches `heartbeat_at`; throws RELAY_FENCED when the token is stale. */
  async #heartbeat(client: pg.Client, leader: Leadership): Promise<void> {
    const beat = await client.query(this.#sql.heartbeat, [leader.token]);
    if (beat.rowCount === 0) throw fenced(leader.token);
    leader.lastBeat = Date.now();
  }

  async #markSent(client: pg.Client, leader: Leadership, batch: readonly OutboxRow[]): Promise<void> {
    const last = batch[batch.length - 1]!;
    const moved = await client.query({
      name: 'datasync_relay_advance',
      text: this.#sql.advance,
      values: [last.xid, last.id, batch.length, leader.token],
    });
    if (moved.rowCount === 0) throw fenced(leader.token);
    leader.xid = last.xid!;
    leader.id = last.id!;
    leader.lastBeat = Date.now();
    this.#published += batch.length;
    this.#batches += 1;
    this.#lastBatchSize = batch.length;
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

  #resolveIdleWaiters(read: number): void {
    if (this.#idleWaiters.length === 0) return;
    const done = this.#idleWaiters.filter((w) => w.after < read);
    this.#idleWaiters = this.#idleWaiters.filter((w) => w.after >= read);
    for (const waiter of done) waiter.resolve();
  }

  #rejectIdleWaiters(error: Error): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }
}

/**
 * Creates an {@link OutboxRelay} and starts it; see {@link OutboxRelay.start} for
 * what "started" means and what it rejects with.
 */
export async function startRelay(config: RelayConfig): Promise<OutboxRelay> {
  const relay = new OutboxRelay(config);
  await relay.start();
  return relay;
}

function statements(schema: string) {
  const outbox = `${schema}.outbox`;
  const relay = `${schema}.outbox_relay`;
  return {
    takeover: `UPDATE ${relay} SET fencing_token = fencing_token + 1, leader = $1, leader_since = now(), heartbeat_at = now()
      WHERE outbox = 'outbox' RETURNING fencing_token::text AS token, position_xid::text AS xid, position_id::text AS id`,
    // One statement returns the next batch below xmin and whether committed rows wait
    // above it (held back by an older open transaction); both use the same snapshot.
    // With an empty batch the LEFT JOIN still yields one row carrying held_back.
    // ORDER BY … LIMIT 1 (not EXISTS) keeps the planner on the (xid, id) index: xmin is
    // unknown at plan time, and a seq scan hoping for an early match reads every row.
    read: `SELECT b.id::text AS id, b.xid::text AS xid, b.topic, b.envelope, h.held_back
      FROM (SELECT (SELECT xid FROM ${outbox} WHERE xid >= pg_snapshot_xmin(pg_current_snapshot()) ORDER BY xid LIMIT 1) IS NOT NULL AS held_back) h
      LEFT JOIN LATERAL (
        SELECT o.id, o.xid, o.topic, o.envelope FROM ${outbox} o
        WHERE (o.xid, o.id) > ($1::xid8, $2::bigint) AND o.xid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY o.xid, o.id LIMIT $3
      ) b ON true
      ORDER BY b.xid, b.id`,
    advance: `UPDATE ${relay} SET position_xid = $1::xid8, position_id = $2::bigint, published_total = published_total + $3, heartbeat_at = now()
      WHERE outbox = 'outbox' AND fencing_token = $4`,
    heartbeat: `UPDATE ${relay} SET heartbeat_at = now() WHERE outbox = 'outbox' AND fencing_token = $1`,
  };
}

function fenced(token: number): SyncError {
  return new SyncError('RELAY_FENCED', `fencing token ${token} is stale: another relay took over this outbox; standing by`);
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

/** A resettable wake-up: `wait` ends at its timeout or at the first `wake` since the last `clear`. */
class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  wake(): void {
    this.#pending = true;
    this.#resolve?.();
  }

  clear(): void {
    this.#pending = false;
  }

  /** Resolves true when woken, false at the timeout. */
  wait(ms: number): Promise<boolean> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#resolve = undefined;
        resolve(false);
      }, ms);
      this.#resolve = () => {
        clearTimeout(timer);
        this.#resolve = undefined;
        this.#pending = false;
        resolve(true);
      };
    });
  }
}
