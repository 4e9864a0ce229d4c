import type pg from 'pg';
import { untilAborted } from '../core/abort.js';
import type { CloudEvent } from '../core/envelope.js';
import { assertCdcPossible, cdcNames, migrateCdc, type CdcNames } from './cdc-replication.js';
import { OutboxStream, formatLsn, parseLsn, type OutboxChange, type OutboxStreamEvent } from './cdc-stream.js';
import { DEFAULT_RELAY_BASE_CONFIG, resolveRelayConfig, type RelayBaseConfig, type RelayHooks, type RelayStats, type ResolvedRelayBaseConfig } from './relay-config.js';
import { pause } from '../core/abort.js';
import { relayClientConfig } from './relay-connection.js';
import { fencedError, RelayLeadership, type Leadership } from './relay-leadership.js';
import { publishBatch } from './relay-publish.js';
import { readBeyondCursor } from './relay-read.js';
import { quoteIdent } from './sql.js';

/** Configuration of {@link CdcRelay}: the fields of `RelayConfig` that apply; each optional one names its default. */
export interface CdcRelayConfig extends RelayBaseConfig {
  /** Most rows published per broker round (and read per catch-up query). Default 500. */
  readonly batchSize?: number;
  /**
   * How often the leader touches `heartbeat_at` (checking its fencing token), reports its
   * position to the server and, when the stream was quiet, writes a position marker so the
   * slot advances while the outbox is idle. Default 2000 ms.
   */
  readonly heartbeatIntervalMs?: number;
  /** `afterPublish` is awaited after the broker ack, before the cursor moves and the slot is acknowledged. Default: none. */
  readonly hooks?: RelayHooks;
}

/** Defaults of {@link CdcRelayConfig}. */
export const DEFAULT_CDC_RELAY_CONFIG = DEFAULT_RELAY_BASE_CONFIG;

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

/** Re-read delays of the catch-up while transactions older than its horizon are open. */
const HELD_BACK_POLL = { initialMs: 2, maxMs: 100 };
/** Retry delays while the previous leader's replication session still holds the slot. */
const SLOT_BUSY_RETRY = { initialMs: 100, maxMs: 1_000 };

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

/** One leadership term: ends on close, fencing, a lost connection or a failed stream. */
class Term {
  readonly #controller = new AbortController();
  readonly signal = this.#controller.signal;
  /** Why the term failed; undefined when it ended normally (close, stream closed by the relay). */
  error: Error | undefined;
  stream: OutboxStream | undefined;
  /** The probe the cursor moves by once the stream has passed it; undefined until streaming. */
  probe: Probe | undefined;
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

/** What the relay keeps for a `whenIdle()` caller. */
interface IdleWaiter {
  /** Content of the marker written for this waiter in the current term; undefined until written. */
  token: string | undefined;
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

  readonly #config: ResolvedRelayBaseConfig;
  readonly #leadership: RelayLeadership<IdleWaiter>;
  readonly #sql: ReturnType<typeof statements>;
  #term: Term | undefined;
  #client: pg.Client | undefined;
  #phase: CdcRelayStats['phase'] = 'standby';
  #markerSeq = 0;
  #caughtUp = 0;
  #skipped = 0;
  #acknowledged: bigint | undefined;

  /** Validates `config` (throws ConfigurationError); nothing runs before {@link start}. */
  constructor(config: CdcRelayConfig) {
    this.#config = resolveRelayConfig(config);
    this.instanceId = this.#config.instanceId;
    this.schema = this.#config.schema;
    this.names = cdcNames(this.schema);
    this.#sql = statements(quoteIdent(this.schema));
    // The polling relay's lock and fencing token: one relay of either kind leads.
    this.#leadership = new RelayLeadership(this.#config, {
      applicationName: `datasync-cdc-relay:${this.schema}`,
      checkServer: (client) => assertCdcPossible(client, this.schema),
      lead: (client, leader, started) => this.#lead(client, leader, started),
      onSessionError: (error) => this.#term?.fail(error),
    });
  }

  /** True while this instance holds the leader lock and a current fencing token. */
  get isLeader(): boolean {
    return this.#leadership.isLeader;
  }

  /** Counters of this instance since start. */
  stats(): CdcRelayStats {
    return {
      ...this.#leadership.stats(),
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
    return this.#leadership.start();
  }

  /**
   * Stops publishing, ends the replication session and releases the leader lock. Safe
   * mid-batch: a batch the broker has not acknowledged is abandoned (neither cursor nor
   * slot move; the next leader publishes it again); an acknowledged one is recorded and
   * acknowledged first. Idempotent; pending {@link whenIdle} calls reject with RELAY_CLOSED.
   */
  close(): Promise<void> {
    return this.#leadership.close();
  }

  /**
   * Resolves once everything committed before the call is published and acknowledged:
   * the relay writes a marker into the WAL and waits until its stream has passed it. On a
   * standby, or during the catch-up, it waits until this instance streams. Rejects when
   * `signal` aborts or the relay closes. For tests and orderly shutdowns.
   */
  whenIdle(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#leadership.whenIdle({ token: undefined }, options.signal, (waiter) => {
      const term = this.#term;
      if (term?.stream && this.#client) this.#writeIdleMarker(this.#client, term, waiter);
    });
  }

  get #isClosing(): boolean {
    return this.#leadership.isClosing;
  }

  #report(error: unknown): void {
    this.#leadership.report(error);
  }

  /** One leadership term: make sure the slot exists, catch up, stream. */
  async #lead(client: pg.Client, leader: Leadership, started: () => void): Promise<void> {
    const term = new Term(this.#leadership.closing);
    this.#term = term;
    this.#client = client;
    this.#phase = 'catching-up';
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
      term.probe = toProbe(probe.rows[0]!);
      const stream = await this.#openStream(term, leader);
      if (!stream) return;
      term.stream = stream;
      this.#phase = 'streaming';
      for (const waiter of this.#leadership.idleWaiters.states()) this.#writeIdleMarker(client, term, waiter);
      await Promise.race([stream.ended.then(() => term.end(), (error: unknown) => term.fail(error)), aborted(term.signal)]);
    } catch (error) {
      term.fail(error);
    } finally {
      term.end();
      await beating;
      await term.flushing;
      await term.stream?.close();
      this.#phase = 'standby';
      this.#term = undefined;
      this.#client = undefined;
      for (const waiter of this.#leadership.idleWaiters.states()) waiter.token = undefined;
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
        this.#leadership.countBatch(rows.length);
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
          clientConfig: relayClientConfig(this.#config, `datasync-cdc-stream:${this.schema}`),
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
    const probe = term.probe;
    const probeReached = probe !== undefined && through >= probe.lsn;
    if (rows.length > 0 || probeReached) {
      const client = this.#client;
      if (!client || (term.signal.aborted && rows.length === 0)) return;
      const recorded = await this.#record(client, leader, this.#sql.advance, [probeReached ? probe.xmin.toString() : null, leader.xid, leader.id, rows.length, leader.token]);
      // Keep an unreached probe: a newer one would always lie ahead of a busy stream.
      if (probeReached || !probe) term.probe = toProbe({ xmin: recorded.probe_xmin, lsn: recorded.probe_lsn });
      this.#leadership.countBatch(rows.length);
    }
    // A failed term acknowledges nothing more; a closing one acknowledges what it recorded.
    if (term.signal.aborted && !this.#isClosing) return;
    if (through > term.acked) {
      term.stream?.confirm(through);
      term.acked = through;
      this.#acknowledged = through;
    }
    if (markers.length > 0) {
      this.#leadership.idleWaiters.resolve((waiter) => waiter.token !== undefined && markers.includes(waiter.token));
    }
  }

  /**
   * Runs a fenced update of `outbox_relay` (cursor, published_total, heartbeat) and
   * moves the in-memory cursor to what it returns; throws RELAY_FENCED when the token is stale.
   */
  async #record(client: pg.Client, leader: Leadership, text: string, values: unknown[]): Promise<{ xid: string; id: string; probe_xmin: string; probe_lsn: string }> {
    const { rows } = await client.query<{ xid: string; id: string; probe_xmin: string; probe_lsn: string }>(text, values);
    const row = rows[0];
    if (!row) throw fencedError(leader.token);
    leader.xid = row.xid;
    leader.id = row.id;
    leader.lastBeat = Date.now();
    return row;
  }

  /** Publishes rows with retry (see {@link publishBatch}); false when the term ended first (the batch is abandoned). */
  #publish(rows: readonly OutboxChange[], signal: AbortSignal): Promise<boolean> {
    return publishBatch(rows, {
      publisher: this.#config.publisher, hooks: this.#config.hooks, signal, report: (error) => this.#report(error), onPublished: this.#leadership.countPublished,
    });
  }

  /**
   * While the term lasts: touches `heartbeat_at` under the fencing token, reports the
   * stream position to the server, writes a marker when the stream was quiet (so an idle
   * outbox's slot advances past other tables' WAL), and purges on schedule.
   */
  async #keepLeading(client: pg.Client, leader: Leadership, term: Term): Promise<void> {
    const { purge } = this.#leadership;
    let eventsAtLastBeat = -1;
    while (!term.signal.aborted) {
      purge.maybeStart();
      const due = leader.lastBeat + this.#config.heartbeatIntervalMs;
      await pause(Math.max(0, Math.min(due, purge.nextAt) - Date.now()), term.signal);
      if (term.signal.aborted) return;
      if (Date.now() < leader.lastBeat + this.#config.heartbeatIntervalMs) continue;
      // Abortable: queued behind a slot creation that waits for a long transaction, it must not hold up close().
      await this.#leadership.heartbeat(client, leader, term.signal);
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
    // The polling relay's read, with the snapshot's xmin on every row (one row when nothing is below it).
    read: readBeyondCursor(outbox, { subquery: '(SELECT 1) one', column: 'pg_snapshot_xmin(pg_current_snapshot())::text AS xmin' }),
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

/** Resolves when `signal` aborts; never rejects. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
