import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/core/errors.js';
import { CDC_SLOT_RETAINED_WAL_METRIC, registerCdcSlotMetrics } from '../../src/observability/metrics.js';
import { CdcRelay, startCdcRelay } from '../../src/postgres/cdc-relay.js';
import { cdcNames, dropCdc } from '../../src/postgres/cdc-replication.js';
import { outboxStatus } from '../../src/postgres/outbox-admin.js';
import { startRelay } from '../../src/postgres/relay.js';
import { leadershipCases } from '../support/relay-leadership-cases.js';
import { RecordingPublisher, relayTestbed } from '../support/relay-testbed.js';
import { runCli as datasync } from '../support/cli.js';
import { useTestResources } from '../support/resources.js';
import { POSTGRES_URL, describeWithServers, uniqueName, waitFor } from '../support/servers.js';

// The polling relay's contract (test/integration/relay.int.test.ts) in CDC mode. Where CDC
// differs on purpose, the case says so: events go out in commit order, not (xid, id) order,
// so a transaction that commits late no longer holds back the ones that committed before it.

const OWNER = 'cdctest';
/** Every slot this file may have created, dropped again at the end whatever happened. */
const slotsCreated = new Set<string>();

afterAll(async () => {
  if (slotsCreated.size === 0) return;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    // A slot left behind would keep WAL on the shared server for ever.
    await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1) AND NOT active', [[...slotsCreated]]);
  } finally {
    await client.end();
  }
});

describeWithServers(['postgres', 'redis'], 'CDC outbox relay (logical replication)', () => {
  const r = useTestResources({ poolMax: 12 });

  const bed = relayTestbed(r, {
    owner: OWNER,
    relay: 'cdc',
    start: startCdcRelay,
    ready: (relay) => relay.whenIdle({ signal: AbortSignal.timeout(30_000) }),
    onSchema: (schema) => {
      slotsCreated.add(cdcNames(schema).slot);
      r.defer(() => dropWhenInactive(schema)); // registered first, so it runs after the relays closed
    },
  });
  // streamingRelayOf: a CDC relay that streams from its slot (caught up), ready for rows written from now on.
  const { setup, write, relayOf, readyRelayOf: streamingRelayOf, streamIds, outboxOrder, drain, transaction, spawnChild, printed, lateCommit } = bed;

  /** Drops the slot and publication; a killed child's replication session may hold the slot a moment longer. */
  async function dropWhenInactive(schema: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await dropCdc(r.pool, schema);
        return;
      } catch (error) {
        if (Date.now() > deadline || !String(error).includes('in use')) throw error;
        await sleep(100);
      }
    }
  }

  async function slotConfirmedLsn(schema: string): Promise<string> {
    const { rows } = await r.pool.query<{ lsn: string }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [cdcNames(schema).slot]);
    return rows[0]!.lsn;
  }

  async function lsnAtMost(lsn: string, bound: string): Promise<boolean> {
    return (await r.pool.query<{ ok: boolean }>('SELECT $1::pg_lsn <= $2::pg_lsn AS ok', [lsn, bound])).rows[0]!.ok;
  }

  describe('order and completeness', () => {
    it('publishes the events of 50 concurrent transactions once each, a transaction\'s rows together and in insert order; the cursor ends at the last row', async () => {
      const { schema, writer, topics } = await setup(2);
      const relay = await streamingRelayOf(schema, (await r.transport()).publisher, { batchSize: 7 });
      const transactions = await Promise.all(Array.from({ length: 50 }, (_, i) => write(writer, topics[i % 2]!, [3 * i, 3 * i + 1, 3 * i + 2], `k${i}`)));
      await drain(relay, schema);

      const order = await outboxOrder(schema);
      expect(order).toHaveLength(150);
      for (const [t, topic] of topics.entries()) {
        const published = await streamIds(topic);
        const mine = transactions.filter((_, i) => i % 2 === t);
        expect([...published].sort()).toEqual(mine.flat().sort()); // each exactly once
        for (const ids of mine) {
          const at = published.indexOf(ids[0]!);
          expect(published.slice(at, at + ids.length)).toEqual(ids); // together, in insert order
        }
      }
      const last = order[order.length - 1]!;
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ schema, pending: 0, cursor: { xid: last.xid, id: last.id }, leader: relay.instanceId, fencingToken: 1, publishedTotal: 150 });
      expect(relay.stats()).toMatchObject({ published: 150, isLeader: true, fencingToken: 1, phase: 'streaming', skipped: 0, caughtUp: 0 });
    });

    it('publishes transactions in commit order, not in the (xid, id) order the polling relay uses', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const publisher = new RecordingPublisher();
      const relay = await streamingRelayOf(schema, publisher);
      const open: { client: pg.PoolClient; id: string }[] = [];
      for (let i = 0; i < 6; i++) {
        const client = await transaction();
        open.push({ client, id: (await writer.publish(client, topic!, { id: `k${i}`, seq: i })).id }); // xids ascend with i
      }
      const commitOrder = [3, 0, 5, 1, 4, 2];
      for (const i of commitOrder) await open[i]!.client.query('COMMIT');
      await drain(relay, schema);

      expect(publisher.ids()).toEqual(commitOrder.map((i) => open[i]!.id));
      expect((await outboxOrder(schema)).map((row) => row.event_id)).toEqual(open.map((t) => t.id));
    });

    it('publishes a transaction that commits while an older one is still open at once, and the older one when it commits (late commit)', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const publisher = new RecordingPublisher();
      const relay = await streamingRelayOf(schema, publisher);
      const { older, younger, commitOlder } = await lateCommit(relay, schema, writer, topic!);
      expect(publisher.ids()).toEqual([younger]); // the polling relay would wait for T1 (lower xid)

      await commitOlder();
      expect(publisher.ids()).toEqual([younger, older]);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ pending: 0, publishedTotal: 2 });
    });

    it('publishes both rows when the open transaction holds the lower xid but the higher id', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const publisher = new RecordingPublisher();
      const relay = await streamingRelayOf(schema, publisher);
      const { older, younger, commitOlder } = await lateCommit(relay, schema, writer, topic!, { olderWritesLast: true });
      expect(publisher.ids()).toEqual([younger]);

      await commitOlder();
      expect(publisher.ids()).toEqual([younger, older]);
      const rows = await outboxOrder(schema);
      expect(rows.map((row) => row.event_id)).toEqual([older, younger]);
      expect(BigInt(rows[0]!.id)).toBeGreaterThan(BigInt(rows[1]!.id));
    });
  });

  describe('handover between polling and CDC', () => {
    it('takes over from the polling cursor: rows sent by polling are not sent again, unsent ones and a transaction open while the slot is created are sent once', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const transport = await r.transport();
      const polling = await startRelay({ connectionString: POSTGRES_URL, schema, publisher: transport.publisher });
      const sent = await write(writer, topic!, [1, 2, 3]);
      await waitFor('the polling relay to send', async () => (await outboxStatus(r.pool, schema)).pending === 0, 20_000);
      await polling.close();
      const unsent = await write(writer, topic!, [4, 5]);
      const open = await transaction();
      const late = (await writer.publish(open, topic!, { id: 'k', seq: 6 })).id;

      expect(await outboxStatus(r.pool, schema)).toMatchObject({ cdc: null });
      const starting = relayOf(schema, transport.publisher); // creating the slot waits for the open transaction
      await sleep(300);
      await open.query('COMMIT');
      const relay = await starting;
      await relay.whenIdle({ signal: AbortSignal.timeout(30_000) });
      const streamed = await write(writer, topic!, [7, 8]);
      await drain(relay, schema);

      expect(await streamIds(topic!)).toEqual([...sent, ...unsent, late, ...streamed]);
      expect(relay.stats()).toMatchObject({ caughtUp: 3, published: 5 });
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ pending: 0, publishedTotal: 8, cdc: { slot: cdcNames(schema).slot, active: true } });
    });

    it('leaves a cursor the polling relay can continue from, without skipping or re-sending', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const transport = await r.transport();
      const cdc = await streamingRelayOf(schema, transport.publisher);
      const first = await write(writer, topic!, [1, 2, 3]);
      await drain(cdc, schema);
      await cdc.close();

      const second = await write(writer, topic!, [4, 5]);
      const polling = await startRelay({ connectionString: POSTGRES_URL, schema, publisher: transport.publisher });
      r.defer(() => polling.close());
      await waitFor('the polling relay to send', async () => (await outboxStatus(r.pool, schema)).pending === 0, 20_000);
      expect(await streamIds(topic!)).toEqual([...first, ...second]);
      expect(polling.stats()).toMatchObject({ published: 2, fencingToken: 2 });
    });

    it('shares the polling relay\'s leader lock: a CDC relay stands by while a polling relay leads', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const transport = await r.transport();
      const polling = await startRelay({ connectionString: POSTGRES_URL, schema, publisher: transport.publisher });
      r.defer(() => polling.close());
      const cdc = await relayOf(schema, transport.publisher, { instanceId: 'cdc-standby' });
      expect(cdc.stats()).toMatchObject({ isLeader: false, phase: 'standby' });
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ cdc: null }); // a standby creates no slot

      const ids = await write(writer, topic!, [1, 2]);
      await waitFor('the polling relay to send', async () => (await outboxStatus(r.pool, schema)).pending === 0, 20_000);
      await polling.close();
      await waitFor('the CDC relay to take over', () => cdc.isLeader, 5_000);
      const more = await write(writer, topic!, [3]);
      await drain(cdc, schema);
      expect(await streamIds(topic!)).toEqual([...ids, ...more]);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ leader: 'cdc-standby', publishedTotal: 3 });
    });
  });

  describe('recovery of the replication objects', () => {
    it('replaces a slot whose publication was dropped, and recreates dropped ones, publishing what was missed from the outbox', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const { publication } = cdcNames(schema);
      const publisher = new RecordingPublisher();
      const first = await streamingRelayOf(schema, publisher);
      const a = await write(writer, topic!, [1]);
      await drain(first, schema);
      await first.close();

      await r.pool.query(`DROP PUBLICATION "${publication}"`); // the slot alone cannot decode without it
      const b = await write(writer, topic!, [2]);
      const errors: unknown[] = [];
      const second = await streamingRelayOf(schema, publisher, { hooks: { onError: (e) => errors.push(e) } });
      const c = await write(writer, topic!, [3]);
      await drain(second, schema);
      expect(String(errors[0])).toContain('(publication-missing); created it anew');
      await second.close();

      await dropCdc(r.pool, schema);
      const d = await write(writer, topic!, [4]);
      const third = await streamingRelayOf(schema, publisher);
      const e = await write(writer, topic!, [5]);
      await drain(third, schema);
      expect(publisher.ids()).toEqual([...a, ...b, ...c, ...d, ...e]);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ pending: 0, publishedTotal: 5, cdc: { active: true } });
    });
  });

  describe('failures', () => {
    it('keeps cursor and slot position while the broker fails and publishes the same events once it recovers', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const publisher = new RecordingPublisher();
      const errors: unknown[] = [];
      // No heartbeat markers meanwhile: the slot position moves only with what is published.
      const relay = await streamingRelayOf(schema, publisher, { heartbeatIntervalMs: 60_000, hooks: { onError: (e) => errors.push(e) } });
      const before = (await r.pool.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
      publisher.failing = true;
      const ids = await write(writer, topic!, [1, 2, 3]);
      await waitFor('two failed publishes', () => errors.length >= 2, 20_000);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ pending: 3, cursor: { id: '0' } });
      expect(await lsnAtMost(await slotConfirmedLsn(schema), before)).toBe(true); // not acknowledged

      publisher.failing = false;
      await drain(relay, schema);
      expect(publisher.ids()).toEqual(ids);
      expect(relay.stats()).toMatchObject({ published: 3, batches: 1, lastBatchSize: 3 });
      expect(await lsnAtMost(before, await slotConfirmedLsn(schema))).toBe(true);
    });

    it('redelivers the batch of a relay killed between broker ack and slot acknowledgement; nothing is lost', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      // Default batchSize: the first batch is published once its commit has arrived, so an
      // acknowledgement at the commit (before the broker's ack) would show below.
      const child = spawnChild({ schema, mode: 'hang-after-first-publish' });
      await child.line(/^STREAMING /);
      const ids: string[] = [];
      for (let t = 0; t < 4; t++) ids.push(...(await write(writer, topic!, [5 * t, 5 * t + 1, 5 * t + 2, 5 * t + 3, 5 * t + 4])));

      const marker = await printed<{ count: number; lastId: string }>(child, 'PUBLISHED');
      child.process.kill('SIGKILL');
      await child.exited;

      const order = await outboxOrder(schema);
      // Usually the first transaction alone; a batch may also end inside a transaction (the
      // slot is then acknowledged only up to the last whole one, docs/relay.md section 9).
      expect(marker.count).toBeGreaterThan(0);
      expect(marker.lastId).toBe(order[marker.count - 1]!.id);
      expect(await streamIds(topic!)).toEqual(ids.slice(0, marker.count)); // acknowledged by Redis …
      expect((await outboxStatus(r.pool, schema)).cursor).toEqual({ xid: '0', id: '0' }); // … but not recorded

      const relay = await relayOf(schema, (await r.transport()).publisher);
      await drain(relay, schema);
      const published = await streamIds(topic!);
      expect(published).toEqual([...ids.slice(0, marker.count), ...ids]); // the killed batch twice, nothing lost
      // … nor acknowledged to the slot: it sent all 20 rows again (skipped, as the new leader's catch-up had sent them).
      expect(relay.stats()).toMatchObject({ caughtUp: 20, skipped: 20, published: 20 });
    });

    it('keeps its replication session through a broker stall longer than wal_sender_timeout (the stream paused meanwhile)', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const stalled = new RecordingPublisher();
      const errors: unknown[] = [];
      // A 1 s wal_sender_timeout for this relay's sessions; status updates go out every 300 ms
      // even while the stream is paused behind a batch the broker has not acknowledged.
      const relay = await streamingRelayOf(schema, stalled, {
        batchSize: 1, heartbeatIntervalMs: 300, clientConfig: { options: '-c wal_sender_timeout=1000' }, hooks: { onError: (e) => errors.push(e) },
      });
      const release = stalled.stall();
      r.defer(() => Promise.resolve(release()));
      const ids = [...(await write(writer, topic!, [1, 2])), ...(await write(writer, topic!, [3]))];
      await waitFor('the publish to start', () => stalled.calls === 1, 20_000);
      await sleep(4_000);
      release();
      await drain(relay, schema);
      expect(stalled.ids()).toEqual(ids);
      expect(errors).toEqual([]);
      expect(relay.stats()).toMatchObject({ fencingToken: 1, skipped: 0, published: 3 }); // the same term and session throughout
    });

    it('close() returns while creating the slot still waits for an open transaction', async () => {
      const { schema } = await setup();
      const open = await transaction();
      await open.query('SELECT pg_current_xact_id()'); // a writing transaction: slot creation waits for it
      const relay = new CdcRelay({ connectionString: POSTGRES_URL, schema, publisher: new RecordingPublisher(), heartbeatIntervalMs: 100 });
      const starting = relay.start();
      await waitFor('the slot creation to wait', async () => {
        const { rows } = await r.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%pg_create_logical_replication_slot%' AND state = 'active'`,
          [`datasync-cdc-relay:${schema}`],
        );
        return rows[0]!.n === 1;
      }, 20_000);
      await sleep(500); // several heartbeats fall due meanwhile; they queue behind the slot creation on the leader's connection
      const closed = await Promise.race([relay.close().then(() => 'closed'), sleep(20_000).then(() => 'still waiting after 20 s')]);
      expect(closed).toBe('closed');
      await starting;
      expect(relay.isLeader).toBe(false);
      await open.query('ROLLBACK');
      // The abandoned backend finishes creating the slot once the transaction ends; drop it after.
      await waitFor('the abandoned backend to end', async () => {
        const { rows } = await r.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [`datasync-cdc-relay:${schema}`]);
        return rows[0]!.n === 0;
      }, 20_000);
    });

    leadershipCases(r, bed, {
      standbyStats: { phase: 'standby' },
      leadingStatus: { cdc: { active: true } },
      closedStatus: { cdc: { active: false } }, // the slot did not move either: the successor sends all three
      successorStats: { caughtUp: 2, skipped: 2 }, // the slot still had e2 and e3
    });
  });

  describe('slot position, lag and retained WAL', () => {
    it('moves the slot past other tables\' WAL while the outbox is idle, so a running relay retains little', async () => {
      const { schema } = await setup();
      await streamingRelayOf(schema, new RecordingPublisher(), { heartbeatIntervalMs: 100 });
      await r.pool.query(`CREATE TABLE "${schema}".other AS SELECT g AS n, repeat('x', 200) AS filler FROM generate_series(1, 5000) g`);
      const after = (await r.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
      await waitFor('the slot to pass the other table\'s WAL', async () => lsnAtMost(after, await slotConfirmedLsn(schema)), 20_000);
    });

    it('shows slot, lag and retained WAL in outbox status, the datasync command and the metric; cdc drop removes the slot', async () => {
      const { schema, writer, topics: [topic] } = await setup();
      const { slot } = cdcNames(schema);
      const relay = await streamingRelayOf(schema, new RecordingPublisher());
      expect((await outboxStatus(r.pool, schema)).cdc).toMatchObject({ slot, active: true, walStatus: 'reserved' });
      // The server's confirmed position is exactly the commit end / marker LSN the relay acknowledged (not one byte past it).
      await waitFor('the acknowledged LSN on the server', async () => (await slotConfirmedLsn(schema)) === relay.stats().acknowledgedLsn, 10_000);

      await relay.close();
      for (let t = 0; t < 20; t++) await write(writer, topic!, [t]);
      const status = await outboxStatus(r.pool, schema);
      expect(status).toMatchObject({ pending: 20, cdc: { slot, active: false, confirmedFlushLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) as unknown } });
      expect(status.cdc!.lagBytes).toBeGreaterThan(0);
      expect(status.cdc!.retainedWalBytes).toBeGreaterThanOrEqual(status.cdc!.lagBytes);

      const registry = new Registry();
      registerCdcSlotMetrics(r.pool, registry);
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === CDC_SLOT_RETAINED_WAL_METRIC)!;
      const sample = (metric.values as { labels: Record<string, string>; value: number }[]).find((v) => v.labels.slot === slot);
      expect(sample).toMatchObject({ labels: { slot, schema } });
      expect(sample!.value).toBeGreaterThanOrEqual(status.cdc!.retainedWalBytes);

      const json = await datasync(['outbox', 'status', '--schema', schema, '--json']);
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ pending: 20, cdc: { slot, active: false } });
      const text = await datasync(['outbox', 'status', '--schema', schema]);
      expect(text.stdout).toMatch(new RegExp(`^cdc slot\\s+${slot} \\(inactive: PostgreSQL keeps WAL until a relay streams again\\)$`, 'm'));
      expect(text.stdout).toMatch(/^slot lag\s+\d+(\.\d)? (B|kB|MB)$/m);
      expect(text.stdout).toMatch(/^retained WAL\s+\d+(\.\d)? (B|kB|MB|GB) \(wal_status reserved\)$/m);

      const dropped = await datasync(['outbox', 'cdc', 'drop', '--schema', schema]);
      expect(dropped.code, dropped.stderr).toBe(0);
      expect(dropped.stdout.trim()).toBe(`dropped replication slot ${slot}; dropped publication ${cdcNames(schema).publication}`);
      expect(await outboxStatus(r.pool, schema)).toMatchObject({ pending: 20, cdc: null });
      const metricAfter = (await registry.getMetricsAsJSON()).find((m) => m.name === CDC_SLOT_RETAINED_WAL_METRIC)!;
      expect((metricAfter.values as { labels: Record<string, string> }[]).some((v) => v.labels.slot === slot)).toBe(false);
    });

    it('cdc drop refuses while a relay streams from the slot', async () => {
      const { schema } = await setup();
      await streamingRelayOf(schema, new RecordingPublisher());
      const refused = await datasync(['outbox', 'cdc', 'drop', '--schema', schema]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`replication slot ${cdcNames(schema).slot} is in use by a running CDC relay`);
      expect((await outboxStatus(r.pool, schema)).cdc).toMatchObject({ active: true });
    });
  });

  describe('configuration', () => {
    it('rejects configuration that cannot work, naming the field', async () => {
      const publisher = new RecordingPublisher();
      expect(() => new CdcRelay({ schema: 'Not-A-Schema', publisher })).toThrow(ConfigurationError);
      expect(() => new CdcRelay({ schema: 'ok', publisher, batchSize: 0 })).toThrow(expect.objectContaining({ field: 'batchSize' }) as Error);
      const missing = uniqueName('cdc');
      await expect(startCdcRelay({ connectionString: POSTGRES_URL, schema: missing, publisher })).rejects.toMatchObject({ code: 'SCHEMA_NOT_MIGRATED', message: expect.stringContaining(`datasync migrate --schema ${missing}`) as unknown });
    });

    it('names its slot and publication after the schema, within PostgreSQL\'s 63 characters', () => {
      expect(cdcNames('catalog')).toEqual({ slot: 'datasync_catalog', publication: 'datasync_outbox_catalog', messagePrefix: 'datasync.cdc.catalog' });
      const long = `s${'x'.repeat(62)}`;
      const names = cdcNames(long);
      expect(names.slot).toHaveLength(63);
      expect(names.publication).toHaveLength(63);
      expect(names.slot).toMatch(/^datasync_sx+_[0-9a-f]{8}$/);
      expect(cdcNames(`${long.slice(0, 62)}y`).slot).not.toBe(names.slot);
    });
  });
});

