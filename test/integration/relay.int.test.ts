import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Topic } from '../../src/core/contracts.js';
import type { CloudEvent } from '../../src/core/envelope.js';
import { ConfigurationError, SyncError } from '../../src/core/errors.js';
import { migrate } from '../../src/postgres/migrations.js';
import { outboxStatus, purgeOutbox, replayOutbox } from '../../src/postgres/outbox-admin.js';
import { OutboxNotifier } from '../../src/postgres/outbox-notifier.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import { OutboxRelay, startRelay, type RelayConfig } from '../../src/postgres/relay.js';
import { inTransaction } from '../../src/postgres/sql.js';
import type { Publisher } from '../../src/transports/transport.js';
import { itemTopic, type Item } from '../support/pipeline.js';
import { startFixture, type FixtureProcess } from '../support/child-process.js';
import { useTestResources } from '../support/resources.js';
import { POSTGRES_URL, describeWithServers, uniqueName, waitFor } from '../support/servers.js';

const OWNER = 'relaytest';
const CHILD = 'test/integration/fixtures/relay-child.ts';

/**
 * An in-memory Publisher for the cases where the broker is irrelevant (pure relay
 * ordering, failing or stalled publishes). Everything else publishes to Redis Streams.
 */
class RecordingPublisher implements Publisher {
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

  close(): Promise<void> {
    return Promise.resolve();
  }
}

describeWithServers(['postgres', 'redis'], 'outbox relay', () => {
  const r = useTestResources({ poolMax: 12 });

  /** A migrated schema of its own, with `topicCount` fresh topics and a writer. */
  async function setup(topicCount = 1): Promise<{ schema: string; writer: OutboxWriter; topics: Topic<Item>[] }> {
    const schema = r.schema('relay');
    await migrate(r.pool, schema);
    const topics = Array.from({ length: topicCount }, () => itemTopic(r.topic(), OWNER, []));
    return { schema, writer: new OutboxWriter({ service: OWNER, schema }), topics };
  }

  /** Writes one event per `seq` in one transaction; returns their event ids. */
  async function write(writer: OutboxWriter, topic: Topic<Item>, seqs: readonly number[]): Promise<string[]> {
    const events = await inTransaction(r.pool, (tx) => writer.publishMany(tx, topic, seqs.map((seq) => ({ data: { id: 'k', seq } }))));
    return events.map((e) => e.id);
  }

  async function relayOf(schema: string, publisher: Publisher, config: Partial<RelayConfig> = {}): Promise<OutboxRelay> {
    const relay = await startRelay({ connectionString: POSTGRES_URL, schema, publisher, ...config });
    r.defer(() => relay.close());
    return relay;
  }

  /** Event ids in a topic's stream, in stream order. */
  async function streamIds(topic: Topic<Item>): Promise<string[]> {
    const entries = await r.redis.xrange(topic.name, '-', '+');
    return entries.map(([, fields]) => {
      const data = fields[fields.indexOf('data') + 1]!;
      return (JSON.parse(data) as CloudEvent).id;
    });
  }

  /** The outbox's event ids in (xid, id) order, with their topic. */
  async function outboxOrder(schema: string): Promise<{ event_id: string; topic: string; xid: string; id: string }[]> {
    const { rows } = await r.pool.query<{ event_id: string; topic: string; xid: string; id: string }>(
      `SELECT o.event_id, o.topic, o.xid::text AS xid, o.id::text AS id FROM "${schema}".outbox o ORDER BY o.xid, o.id`,
    );
    return rows;
  }

  /**
   * Waits until the relay has marked every committed row sent. `whenIdle` alone can
   * resolve while rows wait behind an older transaction anywhere in the cluster (other
   * test files run concurrently), so this also checks `pending`.
   */
  async function drain(relay: OutboxRelay, schema: string, timeoutMs = 20_000): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      await relay.whenIdle({ signal });
      if ((await outboxStatus(r.pool, schema)).pending === 0) return;
    }
  }

  function spawnRelayChild(config: { schema: string; batchSize?: number; mode: 'hang-after-first-publish' | 'run' }): FixtureProcess {
    const child = startFixture(CHILD, config);
    r.defer(async () => {
      child.process.kill('SIGKILL');
      await child.exited;
    });
    return child;
  }

  describe('order and completeness', () => {
    it('publishes the events of 50 concurrent transactions in (xid, id) order; the cursor ends at the last row', async () => {
      const { schema, writer, topics } = await setup(2);
      const relay = await relayOf(schema, (await r.transport()).publisher, { batchSize: 7 });
      await Promise.all(Array.from({ length: 50 }, (_, i) => write(writer, topics[i % 2]!, [3 * i, 3 * i + 1, 3 * i + 2])));
      await drain(relay, schema);

      const order = await outboxOrder(schema);
      expect(order).toHaveLength(150);
      for (const topic of topics) {
        expect(await streamIds(topic)).toEqual(order.filter((r) => r.topic === topic.name).map((r) => r.event_id));
      }
      const last = order[order.length - 1]!;
      const status = await outboxStatus(r.pool, schema);
      expect(status).toMatchObject({ schema, pending: 0, oldestPendingAgeSeconds: 0, cursor: { xid: last.xid, id: last.id }, leader: relay.instanceId, fencingToken: 1, publishedTotal: 150 });
      expect(relay.stats()).toMatchObject({ published: 150, isLeader: true, fencingToken: 1 });
    });

    it('waits behind an older open transaction instead of skipping its row (late commit)', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const publisher = new RecordingPublisher();
      const relay = await relayOf(schema, publisher);
      const t1 = await transaction();
      const t2 = await transaction();

      const e1 = (await writer.publish(t1, topic!, { id: 'k', seq: 1 })).id;
      const e2 = (await writer.publish(t2, topic!, { id: 'k', seq: 2 })).id;
      await t2.query('COMMIT');
      await relay.whenIdle({ signal: AbortSignal.timeout(20_000) });
      expect(publisher.ids()).toEqual([]); // T2's row is committed, but T1 (lower xid) is still open
      expect((await outboxStatus(r.pool, schema)).pending).toBe(1);

      await t1.query('COMMIT');
      await drain(relay, schema);
      expect(publisher.ids()).toEqual([e1, e2]);
    });

    it('publishes both rows when the open transaction holds the lower xid but the higher id', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const publisher = new RecordingPublisher();
      const relay = await relayOf(schema, publisher);
      const t1 = await transaction();
      const t2 = await transaction();

      await t1.query('SELECT pg_current_xact_id()'); // T1 takes its xid first
      const e2 = (await writer.publish(t2, topic!, { id: 'k', seq: 2 })).id; // lower id, higher xid
      const e1 = (await writer.publish(t1, topic!, { id: 'k', seq: 1 })).id; // higher id, lower xid
      await t2.query('COMMIT');
      await relay.whenIdle({ signal: AbortSignal.timeout(20_000) });
      expect(publisher.ids()).toEqual([]);

      await t1.query('COMMIT');
      await drain(relay, schema);
      const rows = await outboxOrder(schema);
      expect(rows.map((r) => r.event_id)).toEqual([e1, e2]);
      expect(BigInt(rows[0]!.id)).toBeGreaterThan(BigInt(rows[1]!.id));
      expect(publisher.ids()).toEqual([e1, e2]);
    });

    for (const how of ['after commit (OutboxNotifier, as createProducer sends it)', 'inside the transaction (OutboxWriter notify: true)'] as const) {
      it(`is woken by a NOTIFY sent ${how}, not by its (here 60 s) poll`, async () => {
        const { schema, topics: [topic] } = await setup();
        const relay = await relayOf(schema, (await r.transport()).publisher, { pollIntervalMs: 60_000, activePollMs: 60_000 });
        await drain(relay, schema); // the first read is done; from now on only a wake-up reads
        const inTransaction = how.startsWith('inside');
        const [id] = await write(new OutboxWriter({ service: OWNER, schema, notify: inTransaction }), topic!, [1]);
        if (!inTransaction) new OutboxNotifier(r.pool, schema).notify();
        await waitFor('the event to be published', async () => (await streamIds(topic!)).includes(id!), 10_000);
        await waitFor('the cursor to move', () => relay.stats().published === 1, 10_000); // just after the broker's ack
      });
    }

    /** A connection in an open transaction, rolled back and released after the test. */
    async function transaction(): Promise<pg.PoolClient> {
      const client = await r.pool.connect();
      await client.query('BEGIN');
      r.defer(async () => {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
      });
      return client;
    }
  });

  describe('failures', () => {
    it('keeps the cursor while the broker fails and publishes the same batch once it recovers', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const publisher = new RecordingPublisher();
      publisher.failing = true;
      const errors: unknown[] = [];
      const relay = await relayOf(schema, publisher, { hooks: { onError: (e) => errors.push(e) } });
      const ids = await write(writer, topic!, [1, 2, 3]);
      await waitFor('two failed publishes', () => errors.length >= 2, 20_000);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ pending: 3, cursor: { id: '0' } });

      publisher.failing = false;
      await drain(relay, schema);
      expect(publisher.ids()).toEqual(ids);
      expect(relay.stats()).toMatchObject({ published: 3, batches: 1, lastBatchSize: 3 });
    });

    it('redelivers the batch of a relay killed between broker ack and cursor update', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const ids: string[] = [];
      for (let t = 0; t < 4; t++) ids.push(...(await write(writer, topic!, [5 * t, 5 * t + 1, 5 * t + 2, 5 * t + 3, 5 * t + 4])));

      const child = spawnRelayChild({ schema, batchSize: 5, mode: 'hang-after-first-publish' });
      const marker = JSON.parse((await child.line(/^PUBLISHED /)).slice('PUBLISHED '.length)) as { count: number; lastId: string };
      child.process.kill('SIGKILL');
      await child.exited;

      const fifth = (await outboxOrder(schema))[4]!;
      expect(marker).toEqual({ count: 5, lastId: fifth.id });
      expect(await streamIds(topic!)).toEqual(ids.slice(0, 5)); // acknowledged by Redis …
      expect((await outboxStatus(r.pool, schema)).cursor).toEqual({ xid: '0', id: '0' }); // … but not marked sent

      const relay = await relayOf(schema, (await r.transport()).publisher);
      await drain(relay, schema);
      const published = await streamIds(topic!);
      expect(published).toEqual([...ids.slice(0, 5), ...ids]); // the killed batch twice, nothing lost
      expect(new Set(published)).toEqual(new Set(ids));
    });

    it('lets a standby take over within 5 s when the leader process dies, with a higher fencing token', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const child = spawnRelayChild({ schema, mode: 'run' });
      const leader = JSON.parse((await child.line(/^STARTED /)).slice('STARTED '.length)) as { isLeader: boolean; fencingToken: number };
      expect(leader.isLeader).toBe(true);

      const standby = await relayOf(schema, (await r.transport()).publisher, { instanceId: 'standby' });
      expect(standby.isLeader).toBe(false);
      const first = await write(writer, topic!, [1, 2, 3, 4, 5]);
      await waitFor('the child leader to publish and mark sent', async () => (await outboxStatus(r.pool, schema)).pending === 0, 20_000);
      expect(await streamIds(topic!)).toEqual(first);
      expect(standby.stats()).toMatchObject({ published: 0, isLeader: false, fencingToken: null });
      expect((await outboxStatus(r.pool, schema)).leader).toBe(`child-${child.process.pid}`);

      child.process.kill('SIGKILL');
      await child.exited;
      await waitFor('the standby to take over', () => standby.isLeader, 5_000);

      const second = await write(writer, topic!, [6, 7, 8]);
      await drain(standby, schema);
      expect(await streamIds(topic!)).toEqual([...first, ...second]);
      expect(standby.stats().fencingToken).toBeGreaterThan(leader.fencingToken);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ leader: 'standby', fencingToken: standby.stats().fencingToken });
    });

    it('stands a fenced leader down: its cursor update affects no row and it publishes no more', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const publisher = (await r.transport()).publisher;
      const errors: unknown[] = [];
      // Long heartbeat and retry, so the stale token is found by the cursor update and the relay stays down.
      const stale = await relayOf(schema, publisher, { leaderRetryMs: 60_000, heartbeatIntervalMs: 60_000, hooks: { onError: (e) => errors.push(e) } });
      const [e1] = await write(writer, topic!, [1]);
      await drain(stale, schema);
      const before = await outboxStatus(r.pool, schema);

      await r.pool.query(`UPDATE "${schema}".outbox_relay SET fencing_token = fencing_token + 1`);
      const [e2] = await write(writer, topic!, [2]);
      await waitFor('RELAY_FENCED', () => errors.some((e) => e instanceof SyncError && e.code === 'RELAY_FENCED'), 20_000);
      expect(stale.stats()).toMatchObject({ published: 1, isLeader: false, fencingToken: null });
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ cursor: before.cursor, pending: 1, publishedTotal: 1 });
      expect(await streamIds(topic!)).toEqual([e1, e2]); // e2 reached the broker but was never marked sent

      const [e3] = await write(writer, topic!, [3]);
      const successor = await relayOf(schema, publisher, { instanceId: 'successor' });
      await drain(successor, schema);
      expect(await streamIds(topic!)).toEqual([e1, e2, e2, e3]);
      expect(stale.stats().published).toBe(1);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ leader: 'successor', fencingToken: before.fencingToken + 2, pending: 0 });
    });

    it('close() mid-publish abandons the batch without moving the cursor and releases the lock', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const stalled = new RecordingPublisher();
      let release!: () => void;
      stalled.gate = new Promise<void>((resolve) => (release = resolve));
      r.defer(() => Promise.resolve(release()));
      const relay = await relayOf(schema, stalled);
      const ids = await write(writer, topic!, [1, 2, 3]);
      await waitFor('the publish to start', () => stalled.calls === 1, 20_000);

      await relay.close();
      await relay.close(); // idempotent
      expect(relay.isLeader).toBe(false);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ pending: 3, cursor: { id: '0' } });
      await expect(relay.whenIdle()).rejects.toMatchObject({ code: 'RELAY_CLOSED' });

      const next = new RecordingPublisher();
      const successor = await relayOf(schema, next);
      await drain(successor, schema);
      expect(next.ids()).toEqual(ids);
    });
  });

  describe('administration', () => {
    it('replays sent rows by time and topic without touching the cursor; dryRun publishes nothing; purge keeps unsent rows', async () => {
      const { schema, writer, topics: [a, b] } = await setup(2);
      const publisher = (await r.transport()).publisher;
      const relay = await relayOf(schema, publisher);
      const old = [...(await write(writer, a!, [1, 2])), ...(await write(writer, b!, [1]))];
      await drain(relay, schema);
      const now = (await r.pool.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
      const since = new Date(now.getTime() + 1); // Date keeps ms, created_at keeps µs
      await sleep(5);
      const recentA = [...(await write(writer, a!, [3, 4])), ...(await write(writer, a!, [5]))];
      const recentB = await write(writer, b!, [2]);
      await drain(relay, schema);
      await relay.close();
      const unsent = await write(writer, a!, [6]);
      const statusBefore = await outboxStatus(r.pool, schema);
      const streamA = await streamIds(a!);
      const streamB = await streamIds(b!);

      expect(await replayOutbox(r.pool, publisher, { schema, since, topic: a!.name, dryRun: true })).toEqual({ matched: 3, published: 0 });
      expect(await streamIds(a!)).toEqual(streamA);

      const progress: [number, number][] = [];
      const replayed = await replayOutbox(r.pool, publisher, { schema, since, topic: a!.name, batchSize: 2, onProgress: (done, total) => progress.push([done, total]) });
      expect(replayed).toEqual({ matched: 3, published: 3 });
      expect(await streamIds(a!)).toEqual([...streamA, ...recentA]);
      expect(await streamIds(b!)).toEqual(streamB);
      expect(progress).toEqual([[0, 3], [2, 3], [3, 3]]);

      const everything = await replayOutbox(r.pool, publisher, { schema, since: new Date(0), dryRun: true });
      expect(everything.matched).toBe(old.length + recentA.length + recentB.length);
      const controller = new AbortController();
      controller.abort(new Error('stop'));
      await expect(replayOutbox(r.pool, publisher, { schema, since, signal: controller.signal })).rejects.toThrow('stop');
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ cursor: statusBefore.cursor, pending: 1 });

      await r.pool.query(`UPDATE "${schema}".outbox SET created_at = created_at - interval '2 days' WHERE event_id = ANY($1)`, [[...old, ...unsent]]);
      expect(await purgeOutbox(r.pool, schema, 24 * 60 * 60 * 1_000)).toBe(old.length);
      const left = (await outboxOrder(schema)).map((r) => r.event_id);
      expect(new Set(left)).toEqual(new Set([...recentA, ...recentB, ...unsent]));
    });

    it('the leader purges sent rows past retention on its own schedule', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const relay = await relayOf(schema, (await r.transport()).publisher, { retentionMs: 60 * 60 * 1_000, purgeIntervalMs: 50 });
      await write(writer, topic!, [1, 2, 3]);
      await drain(relay, schema);
      await r.pool.query(`UPDATE "${schema}".outbox SET created_at = created_at - interval '2 hours'`);
      const kept = await write(writer, topic!, [4]);
      await drain(relay, schema);
      await waitFor('the purge', async () => (await outboxOrder(schema)).length === 1, 20_000);
      expect((await outboxOrder(schema)).map((r) => r.event_id)).toEqual(kept);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ pending: 0, publishedTotal: 4 });
    });

    it('rejects configuration that cannot work, naming the field', async () => {
      const publisher = new RecordingPublisher();
      expect(() => new OutboxRelay({ schema: 'Not-A-Schema', publisher })).toThrow(ConfigurationError);
      expect(() => new OutboxRelay({ schema: 'ok', publisher, batchSize: 0 })).toThrow(expect.objectContaining({ field: 'batchSize' }) as Error);
      expect(() => new OutboxRelay({ schema: 'x'.repeat(50), publisher })).toThrow(expect.objectContaining({ field: 'schema' }) as Error);
      const missing = uniqueName('relay');
      await expect(startRelay({ connectionString: POSTGRES_URL, schema: missing, publisher })).rejects.toMatchObject({ code: 'SCHEMA_NOT_MIGRATED', message: expect.stringContaining(`datasync migrate --schema ${missing}`) as unknown });
    });
  });
});


