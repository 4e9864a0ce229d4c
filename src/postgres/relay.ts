import type pg from 'pg';
import type { CloudEvent } from '../core/envelope.js';
import { ConfigurationError } from '../core/errors.js';
import { assertPositiveIntegers, DEFAULT_RELAY_BASE_CONFIG, resolveRelayConfig, type RelayBaseConfig, type RelayStats, type ResolvedRelayBaseConfig } from './relay-config.js';
import { fencedError, isFenced, RelayLeadership, type Leadership } from './relay-leadership.js';
import { publishBatch } from './relay-publish.js';
import { readBeyondCursor } from './relay-read.js';
import { outboxChannel, quoteIdent } from './sql.js';

export type { RelayHooks, RelayStats } from './relay-config.js';

/** Configuration of {@link OutboxRelay}; every optional field names its default. */
export interface RelayConfig extends RelayBaseConfig {
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
}

/** Defaults of {@link RelayConfig}. */
export const DEFAULT_RELAY_CONFIG = {
  ...DEFAULT_RELAY_BASE_CONFIG,
  pollIntervalMs: 1_000,
  activePollMs: 5,
} as const;

type ResolvedConfig = ResolvedRelayBaseConfig & { readonly pollIntervalMs: number; readonly activePollMs: number };

/** Re-poll delays while committed rows wait behind an older open transaction. */
const HELD_BACK_POLL = { initialMs: 2, maxMs: 100 };
/** pg_notify rejects channel names of 64 bytes or more. */
const MAX_CHANNEL_LENGTH = 63;

function resolveConfig(config: RelayConfig): ResolvedConfig {
  const resolved: ResolvedConfig = {
    ...resolveRelayConfig(config),
    pollIntervalMs: config.pollIntervalMs ?? DEFAULT_RELAY_CONFIG.pollIntervalMs,
    activePollMs: config.activePollMs ?? DEFAULT_RELAY_CONFIG.activePollMs,
  };
  if (outboxChannel(resolved.schema).length > MAX_CHANNEL_LENGTH) {
    throw new ConfigurationError('schema', resolved.schema, `at most ${MAX_CHANNEL_LENGTH - outboxChannel('').length} characters, so its NOTIFY channel name fits`);
  }
  assertPositiveIntegers(resolved, ['pollIntervalMs', 'activePollMs']);
  if (resolved.activePollMs > resolved.pollIntervalMs) throw new ConfigurationError('activePollMs', resolved.activePollMs, `at most pollIntervalMs (${resolved.pollIntervalMs})`);
  return resolved;
}

/** A row of the read; when the read found nothing, one row with only `held_back` set. */
interface OutboxRow {
  readonly id: string | null;
  readonly xid: string | null;
  readonly topic: string | null;
  readonly envelope: CloudEvent | null;
  readonly held_back: boolean;
}

/** A row the read found. */
type FoundRow = OutboxRow & { readonly id: string; readonly xid: string; readonly topic: string; readonly envelope: CloudEvent };

/** What the relay keeps for a `whenIdle()` caller: the number of reads begun before the call. */
interface IdleWaiter {
  readonly after: number;
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
  readonly #leadership: RelayLeadership<IdleWaiter>;
  readonly #sql: ReturnType<typeof statements>;
  readonly #channel: string;
  #reads = 0;

  /** Validates `config` (throws ConfigurationError); nothing runs before {@link start}. */
  constructor(config: RelayConfig) {
    this.#config = resolveConfig(config);
    this.instanceId = this.#config.instanceId;
    this.schema = this.#config.schema;
    this.#sql = statements(quoteIdent(this.schema));
    this.#channel = outboxChannel(this.schema);
    this.#leadership = new RelayLeadership(this.#config, {
      applicationName: `datasync-relay:${this.schema}`,
      lead: (client, leader, started) => this.#lead(client, leader, started),
    });
  }

  /** True while this instance holds the leader lock and a current fencing token. */
  get isLeader(): boolean {
    return this.#leadership.isLeader;
  }

  /** Counters of this instance since start. */
  stats(): RelayStats {
    return this.#leadership.stats();
  }

  /**
   * Connects and makes the first leadership attempt: resolves once this instance is
   * leader or has found another leader. Rejects with ServerUnreachableError when
   * PostgreSQL does not answer and SCHEMA_NOT_MIGRATED when the schema lacks the outbox tables;
   * later connection losses are retried with backoff. Calling it again is a no-op.
   */
  start(): Promise<void> {
    return this.#leadership.start();
  }

  /**
   * Stops publishing and releases the leader lock. Safe mid-batch: a batch whose
   * publish has not been acknowledged is abandoned (the cursor stays, the next
   * leader publishes it again); an acknowledged one is marked sent first.
   * Idempotent; pending {@link whenIdle} calls reject.
   */
  close(): Promise<void> {
    return this.#leadership.close();
  }

  /** Makes the relay read the outbox now instead of at its next notification or poll. */
  wake(): void {
    this.#leadership.wakeup.wake();
  }

  /**
   * Resolves at the first read, begun after this call, that finds nothing below the
   * snapshot's xmin beyond the cursor: everything committed so far (and not held back
   * by an older open transaction) is published and marked sent. On a standby it waits
   * until this instance leads. Rejects when `signal` aborts or the relay closes. For tests.
   */
  whenIdle(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#leadership.whenIdle({ after: this.#reads }, options.signal, () => this.wake());
  }

  /** The leader's term: LISTEN for wake-ups, then read, publish and mark sent until closed or fenced. */
  async #lead(client: pg.Client, leader: Leadership, started: () => void): Promise<void> {
    const onNotification = (message: pg.Notification): void => {
      if (message.channel === this.#channel) this.wake();
    };
    client.on('notification', onNotification);
    try {
      await client.query(`LISTEN ${quoteIdent(this.#channel, 'channel')}`);
      started();
      await this.#publishUntilClosed(client, leader);
    } catch (error) {
      // Fenced: stand by without being woken by every NOTIFY.
      if (isFenced(error)) await client.query(`UNLISTEN ${quoteIdent(this.#channel, 'channel')}`);
      throw error;
    } finally {
      client.off('notification', onNotification);
    }
  }

  /** The leader's loop: read, publish, mark sent; wait for a notification when idle. */
  async #publishUntilClosed(client: pg.Client, leader: Leadership): Promise<void> {
    const leadership = this.#leadership;
    let heldBackDelay = HELD_BACK_POLL.initialMs;
    let idleDelay = this.#config.activePollMs;
    while (!leadership.isClosing) {
      leadership.purge.maybeStart();
      leadership.wakeup.clear();
      const read = ++this.#reads;
      const result = await client.query<OutboxRow>({
        name: 'datasync_relay_read',
        text: this.#sql.read,
        values: [leader.xid, leader.id, this.#config.batchSize],
      });
      const batch = result.rows.filter((r): r is FoundRow => r.id !== null);
      const heldBack = result.rows[0]?.held_back ?? false;
      if (batch.length > 0) {
        idleDelay = this.#config.activePollMs;
        const published = await publishBatch(batch, {
          publisher: this.#config.publisher,
          hooks: this.#config.hooks,
          signal: leadership.closing,
          report: (error) => leadership.report(error),
          beforeRetry: () => this.#heartbeatIfDue(client, leader),
          onPublished: leadership.countPublished,
        });
        if (!published) return;
        await this.#markSent(client, leader, batch);
        // A full batch: more may be waiting. A whenIdle() caller needs an empty read to resolve.
        if (batch.length === this.#config.batchSize || leadership.idleWaiters.size > 0) continue;
      } else {
        leadership.idleWaiters.resolve((waiter) => waiter.after < read);
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
    const leadership = this.#leadership;
    const { heartbeatIntervalMs } = this.#config;
    while (!leadership.isClosing) {
      const now = Date.now();
      if (now >= readAt) return;
      await this.#heartbeatIfDue(client, leader);
      leadership.purge.maybeStart();
      const until = Math.min(readAt, leader.lastBeat + heartbeatIntervalMs, leadership.purge.nextAt);
      if ((await leadership.wakeup.wait(Math.max(0, until - Date.now()))) && (wakeable || leadership.isClosing)) return;
    }
  }

  /** Touches `heartbeat_at` when `heartbeatIntervalMs` has passed since the last touch; throws RELAY_FENCED when the token is stale. */
  async #heartbeatIfDue(client: pg.Client, leader: Leadership): Promise<void> {
    if (Date.now() >= leader.lastBeat + this.#config.heartbeatIntervalMs) await this.#leadership.heartbeat(client, leader);
  }

  async #markSent(client: pg.Client, leader: Leadership, batch: readonly FoundRow[]): Promise<void> {
    const last = batch[batch.length - 1]!;
    const moved = await client.query({
      name: 'datasync_relay_advance',
      text: this.#sql.advance,
      values: [last.xid, last.id, batch.length, leader.token],
    });
    if (moved.rowCount === 0) throw fencedError(leader.token);
    leader.xid = last.xid;
    leader.id = last.id;
    leader.lastBeat = Date.now();
    this.#leadership.countBatch(batch.length);
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
    // One statement returns the next batch below xmin and whether committed rows wait
    // above it (held back by an older open transaction); both use the same snapshot.
    // ORDER BY … LIMIT 1 (not EXISTS) keeps the planner on the (xid, id) index: xmin is
    // unknown at plan time, and a seq scan hoping for an early match reads every row.
    read: readBeyondCursor(outbox, {
      subquery: `(SELECT (SELECT xid FROM ${outbox} WHERE xid >= pg_snapshot_xmin(pg_current_snapshot()) ORDER BY xid LIMIT 1) IS NOT NULL AS held_back) h`,
      column: 'h.held_back',
    }),
    advance: `UPDATE ${relay} SET position_xid = $1::xid8, position_id = $2::bigint, published_total = published_total + $3, heartbeat_at = now()
      WHERE outbox = 'outbox' AND fencing_token = $4`,
  };
}
