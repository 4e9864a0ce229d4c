import type pg from 'pg';
import type { Topic } from '../../src/core/contracts.js';
import type { CloudEvent } from '../../src/core/envelope.js';
import { migrate } from '../../src/postgres/migrations.js';
import { outboxStatus } from '../../src/postgres/outbox-admin.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import type { RelayConfig } from '../../src/postgres/relay.js';
import { inTransaction } from '../../src/postgres/sql.js';
import type { Publisher } from '../../src/transports/transport.js';
import type { RelayChildConfig } from '../integration/fixtures/relay-child.js';
import { startFixture, type FixtureProcess } from './child-process.js';
import { itemTopic, type Item } from './pipeline.js';
import type { TestResources } from './resources.js';
import { POSTGRES_URL } from './servers.js';

/** The relay fixture both relays' kill tests run (its config: {@link RelayChildConfig}). */
export const RELAY_CHILD = 'test/integration/fixtures/relay-child.ts';

/**
 * An in-memory Publisher for the cases where the broker is irrelevant (pure relay
 * ordering, failing or stalled publishes). Everything else publishes to Redis Streams.
 */
export class RecordingPublisher implements Publisher {
  readonly published: { topic: string; id: string }[] = [];
  calls = 0;
  /** While set, every publish rejects. */
  failing = false;
  /** While set, publishes wait for it. */
  gate: Promise<void> | undefined;

  async publish(topic: string, events: readonly CloudEvent[]): Promise<void> {
    this.calls += 1;
    if (this.gate) await this.gate;
    if (this.failing) throw new Error('broker unavailable (test)');
    for (const event of events) this.published.push({ topic, id: event.id });
  }

  ids(): string[] {
    return this.published.map((p) => p.id);
  }

  /** Makes publishes wait from now on; returns what lets them go on. */
  stall(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => (release = resolve));
    return release;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** What the testbed needs of a relay (`OutboxRelay` or `CdcRelay`). */
export interface TestRelay {
  whenIdle(options?: { signal?: AbortSignal }): Promise<void>;
  close(): Promise<void>;
}

/** See {@link RelayTestbed.lateCommit}. */
export interface LateCommit {
  /** The event of the older transaction T1, still open. */
  readonly older: string;
  /** The event of T2, committed. */
  readonly younger: string;
  commitOlder(): Promise<void>;
}

/** Options of {@link relayTestbed}. */
export interface RelayTestbedOptions<R extends TestRelay> {
  /** The `source` of the events written. */
  readonly owner: string;
  /** Which relay the child fixture runs. */
  readonly relay: 'polling' | 'cdc';
  /** Starts the relay under test (`startRelay` or `startCdcRelay`). */
  readonly start: (config: RelayConfig) => Promise<R>;
  /** Awaited by {@link RelayTestbed.readyRelayOf} (CDC: until the relay streams from its slot). */
  readonly ready?: (relay: R) => Promise<void>;
  /** Called with each schema {@link RelayTestbed.setup} migrates, before anything else is registered for cleanup. */
  readonly onSchema?: (schema: string) => void;
}

/** Helpers of a relay integration file, on the file's {@link TestResources}. */
export interface RelayTestbed<R extends TestRelay> {
  /** A migrated schema of its own, dropped after the test, with `topicCount` fresh topics and a writer. */
  setup(topicCount?: number): Promise<{ schema: string; writer: OutboxWriter; topics: Topic<Item>[] }>;
  /** Writes one event per `seq` (entity `key`) in one transaction; returns their event ids. */
  write(writer: OutboxWriter, topic: Topic<Item>, seqs: readonly number[], key?: string): Promise<string[]>;
  /** A started relay on `schema`, closed after the test. */
  relayOf(schema: string, publisher: Publisher, config?: Partial<RelayConfig>): Promise<R>;
  /** {@link relayOf}, ready to publish rows written from now on (a CDC relay streams from its slot). */
  readyRelayOf(schema: string, publisher: Publisher, config?: Partial<RelayConfig>): Promise<R>;
  /** Event ids in a topic's Redis stream, in stream order. */
  streamIds(topic: Topic<Item>): Promise<string[]>;
  /** The outbox's rows in (xid, id) order. */
  outboxOrder(schema: string): Promise<{ event_id: string; topic: string; xid: string; id: string }[]>;
  /**
   * Waits until everything committed is published and the cursor covers it. `whenIdle`
   * alone can resolve while rows wait behind an older transaction anywhere in the cluster
   * (other test files run concurrently), and in CDC mode the cursor trails the stream by a
   * marker round or two, so this also checks `pending`.
   */
  drain(relay: R, schema: string, timeoutMs?: number): Promise<void>;
  /** A connection in an open transaction, rolled back and released after the test. */
  transaction(): Promise<pg.PoolClient>;
  /**
   * The late-commit scenario of docs/relay.md, section 1: two open transactions, T1 older (the
   * lower xid), write one event of `topic` each; T2 commits and `relay` goes idle. With
   * `olderWritesLast`, T1 takes its xid first but writes after T2, so its row has the lower
   * xid and the higher id. Returns both event ids and `commitOlder()`, which commits T1 and
   * drains the relay.
   */
  lateCommit(relay: R, schema: string, writer: OutboxWriter, topic: Topic<Item>, options?: { olderWritesLast?: boolean }): Promise<LateCommit>;
  /** Runs the relay fixture (killed after the test); see test/integration/fixtures/relay-child.ts. */
  spawnChild(config: Omit<RelayChildConfig, 'relay'>): FixtureProcess;
  /** Waits for the child's first `<tag> <json>` line and returns the JSON. */
  printed<T>(child: FixtureProcess, tag: string): Promise<T>;
  /** Waits until the child made its first leadership attempt and, when it leads, is ready (CDC: `STREAMING`); returns its `STARTED` line. */
  childStarted(child: FixtureProcess): Promise<{ isLeader: boolean; fencingToken: number }>;
  /** A publisher whose publishes wait until the test ends. */
  stalledPublisher(): RecordingPublisher;
}

/** The helpers the polling and the CDC relay's integration files share; call inside `describe`, after `useTestResources`. */
export function relayTestbed<R extends TestRelay>(r: TestResources, options: RelayTestbedOptions<R>): RelayTestbed<R> {
  const bed: RelayTestbed<R> = {
    async setup(topicCount = 1) {
      const schema = r.schema(options.relay === 'cdc' ? 'cdc' : 'relay');
      await migrate(r.pool, schema);
      options.onSchema?.(schema);
      const topics = Array.from({ length: topicCount }, () => itemTopic(r.topic(), options.owner, []));
      return { schema, writer: new OutboxWriter({ service: options.owner, schema }), topics };
    },

    async write(writer, topic, seqs, key = 'k') {
      const events = await inTransaction(r.pool, (tx) => writer.publishMany(tx, topic, seqs.map((seq) => ({ data: { id: key, seq } }))));
      return events.map((e) => e.id);
    },

    async relayOf(schema, publisher, config = {}) {
      const relay = await options.start({ connectionString: POSTGRES_URL, schema, publisher, ...config });
      r.defer(() => relay.close());
      return relay;
    },

    async readyRelayOf(schema, publisher, config = {}) {
      const relay = await bed.relayOf(schema, publisher, config);
      await options.ready?.(relay);
      return relay;
    },

    async streamIds(topic) {
      const entries = await r.redis.xrange(topic.name, '-', '+');
      return entries.map(([, fields]) => (JSON.parse(fields[fields.indexOf('data') + 1]!) as CloudEvent).id);
    },

    async outboxOrder(schema) {
      const { rows } = await r.pool.query<{ event_id: string; topic: string; xid: string; id: string }>(
        `SELECT o.event_id, o.topic, o.xid::text AS xid, o.id::text AS id FROM "${schema}".outbox o ORDER BY o.xid, o.id`,
      );
      return rows;
    },

    async drain(relay, schema, timeoutMs = 20_000) {
      const signal = AbortSignal.timeout(timeoutMs);
      for (;;) {
        await relay.whenIdle({ signal });
        if ((await outboxStatus(r.pool, schema)).pending === 0) return;
      }
    },

    async transaction() {
      const client = await r.pool.connect();
      await client.query('BEGIN');
      r.defer(async () => {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
      });
      return client;
    },

    async lateCommit(relay, schema, writer, topic, { olderWritesLast = false } = {}) {
      const t1 = await bed.transaction();
      const t2 = await bed.transaction();
      const writeIn = async (tx: pg.PoolClient, seq: number) => (await writer.publish(tx, topic, { id: 'k', seq })).id;
      let older: string;
      let younger: string;
      if (olderWritesLast) {
        await t1.query('SELECT pg_current_xact_id()'); // T1 takes its xid first
        younger = await writeIn(t2, 2); // lower id, higher xid
        older = await writeIn(t1, 1); // higher id, lower xid
      } else {
        older = await writeIn(t1, 1);
        younger = await writeIn(t2, 2);
      }
      await t2.query('COMMIT');
      await relay.whenIdle({ signal: AbortSignal.timeout(20_000) });
      return {
        older,
        younger,
        async commitOlder() {
          await t1.query('COMMIT');
          await bed.drain(relay, schema);
        },
      };
    },

    spawnChild(config) {
      const child = startFixture(RELAY_CHILD, { ...config, relay: options.relay });
      r.defer(async () => {
        child.process.kill('SIGKILL');
        await child.exited;
      });
      return child;
    },

    async printed<T>(child: FixtureProcess, tag: string): Promise<T> {
      const line = await child.line(new RegExp(`^${tag} `));
      return JSON.parse(line.slice(tag.length + 1)) as T;
    },

    async childStarted(child) {
      const started = await bed.printed<{ isLeader: boolean; fencingToken: number }>(child, 'STARTED');
      if (started.isLeader && options.relay === 'cdc') await child.line(/^STREAMING /);
      return started;
    },

    stalledPublisher() {
      const publisher = new RecordingPublisher();
      const release = publisher.stall();
      r.defer(() => Promise.resolve(release()));
      return publisher;
    },
  };
  return bed;
}
