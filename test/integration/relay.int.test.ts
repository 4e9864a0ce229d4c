import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/core/errors.js';
import { outboxStatus, purgeOutbox, replayOutbox } from '../../src/postgres/outbox-admin.js';
import { OutboxNotifier } from '../../src/postgres/outbox-notifier.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import { OutboxRelay, startRelay } from '../../src/postgres/relay.js';
import { leadershipCases } from '../support/relay-leadership-cases.js';
import { RecordingPublisher, relayTestbed } from '../support/relay-testbed.js';
import { useTestResources } from '../support/resources.js';
import { POSTGRES_URL, describeWithServers, uniqueName, waitFor } from '../support/servers.js';

const OWNER = 'relaytest';

describeWithServers(['postgres', 'redis'], 'outbox relay', () => {
  const r = useTestResources({ poolMax: 12 });
  const bed = relayTestbed(r, { owner: OWNER, relay: 'polling', start: startRelay });
  const { setup, write, relayOf, streamIds, outboxOrder, drain, spawnChild, printed, lateCommit } = bed;

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
      const { older, younger, commitOlder } = await lateCommit(relay, schema, writer, topic!);
      expect(publisher.ids()).toEqual([]); // T2's row is committed, but T1 (lower xid) is still open
      expect((await outboxStatus(r.pool, schema)).pending).toBe(1);

      await commitOlder();
      expect(publisher.ids()).toEqual([older, younger]);
    });

    it('publishes both rows when the open transaction holds the lower xid but the higher id', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const publisher = new RecordingPublisher();
      const relay = await relayOf(schema, publisher);
      const { older, younger, commitOlder } = await lateCommit(relay, schema, writer, topic!, { olderWritesLast: true });
      expect(publisher.ids()).toEqual([]);

      await commitOlder();
      const rows = await outboxOrder(schema);
      expect(rows.map((r) => r.event_id)).toEqual([older, younger]);
      expect(BigInt(rows[0]!.id)).toBeGreaterThan(BigInt(rows[1]!.id));
      expect(publisher.ids()).toEqual([older, younger]);
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

      const child = spawnChild({ schema, batchSize: 5, mode: 'hang-after-first-publish' });
      const marker = await printed<{ count: number; lastId: string }>(child, 'PUBLISHED');
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

    leadershipCases(r, bed);
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


