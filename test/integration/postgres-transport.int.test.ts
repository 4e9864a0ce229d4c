import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createEnvelope, parseEnvelope, type CloudEvent } from '../../src/core/envelope.js';
import { ConfigurationError, ServerUnreachableError } from '../../src/core/errors.js';
import {
  createPostgresTransport,
  DEFAULT_POSTGRES_TRANSPORT_CONFIG,
  transportChannel,
  withDefaults,
  type PostgresTransport,
  type PostgresTransportConfig,
} from '../../src/transports/postgres/index.js';
import type { Delivery } from '../../src/transports/transport.js';
import { freePort } from '../support/ports.js';
import { describeWithServers, POSTGRES_URL, uniqueName, waitFor } from '../support/servers.js';

// What the conformance suite (test/conformance/postgres.int.test.ts) does not cover. Each test
// has its own schema on the shared server.

function probe(topic: string, seq: number): CloudEvent<{ seq: number }> {
  return createEnvelope({ topic, version: 1, source: 'catalog', data: { seq }, subject: `p${seq}` });
}

const seqOf = (delivery: Delivery): number => (parseEnvelope(delivery.body).data as { seq: number }).seq;

describe('postgres transport configuration', () => {
  it('fills in the documented defaults', () => {
    const config = withDefaults({ connectionString: POSTGRES_URL });
    expect(config).toMatchObject({ ...DEFAULT_POSTGRES_TRANSPORT_CONFIG, connectionString: POSTGRES_URL, keepAliveIntervalMs: 20_000 });
    expect(withDefaults({ processingTimeoutMs: 900 }).keepAliveIntervalMs).toBe(300);
  });

  it.each([
    [{ connectionString: 'http://127.0.0.1:5432' }, 'connectionString'],
    [{ schema: 'Bad-Schema' }, 'schema'],
    [{ processingTimeoutMs: 0 }, 'processingTimeoutMs'],
    [{ processingTimeoutMs: 1_000, keepAliveIntervalMs: 1_000 }, 'keepAliveIntervalMs'],
    [{ batchSize: 1.5 }, 'batchSize'],
    [{ pollIntervalMs: -1 }, 'pollIntervalMs'],
    [{ retentionMs: 0 }, 'retentionMs'],
    [{ poolSize: 1 }, 'poolSize'],
  ] as [PostgresTransportConfig, string][])('rejects %j naming the field %s', async (config, field) => {
    const refused = await createPostgresTransport(config).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(ConfigurationError);
    expect(refused).toMatchObject({ code: 'CONFIGURATION_INVALID', field });
    expect((refused as Error).message).toContain(field);
  });
});

describeWithServers(['postgres'], 'postgres transport', () => {
  const transports: PostgresTransport[] = [];
  const controllers: AbortController[] = [];
  const readers: Promise<void>[] = [];
  const schemas: string[] = [];
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });

  afterEach(async () => {
    for (const controller of controllers.splice(0)) controller.abort();
    await Promise.allSettled(readers.splice(0));
    await Promise.all(transports.splice(0).map((transport) => transport.close()));
    for (const schema of schemas.splice(0)) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });
  afterAll(async () => {
    await admin.end();
  });

  async function open(config: PostgresTransportConfig = {}): Promise<PostgresTransport> {
    const transport = await createPostgresTransport({ connectionString: POSTGRES_URL, ...config });
    transports.push(transport);
    if (!schemas.includes(transport.config.schema)) schemas.push(transport.config.schema);
    return transport;
  }

  function freshSchema(): string {
    const schema = uniqueName('tp');
    schemas.push(schema);
    return schema;
  }

  /** One member of `group`, pulling in the background; `handle` runs for each delivery before the next pull. */
  function member(transport: PostgresTransport, topic: string, group: string, handle: (delivery: Delivery) => Promise<void> = (d) => d.ack(), batchSize?: number) {
    const controller = new AbortController();
    controllers.push(controller);
    const received: Delivery[] = [];
    const deliveries = transport.subscriber.subscribe(topic, { group, consumer: uniqueName(group), signal: controller.signal, batchSize });
    const finished = (async () => {
      for await (const delivery of deliveries) {
        received.push(delivery);
        await handle(delivery);
      }
    })();
    readers.push(finished);
    return { received, finished, controller };
  }

  it('delivers a row committed late below one already committed, skipping neither (snapshot xmin rule)', async () => {
    const schema = freshSchema();
    const transport = await open({ schema });
    const topic = uniqueName('late');
    const early = probe(topic, 1);
    const later = probe(topic, 2);

    // A writer whose transaction takes the lower xid and id, and stays open…
    const writer = new pg.Client({ connectionString: POSTGRES_URL });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO ${schema}.topic_log (topic, body) VALUES ($1, $2)`, [topic, JSON.stringify(early)]);
      // …while a later publish commits a higher id.
      await transport.publisher.publish(topic, [later]);
      const group = uniqueName('g');
      const reader = member(transport, topic, group);
      await waitFor('the group offset row', async () => (await admin.query(`SELECT 1 FROM ${schema}.group_offsets WHERE group_name = $1`, [group])).rowCount === 1);
      await sleep(500); // reads run meanwhile (woken by the publish, then every few ms while held back)
      expect(reader.received).toEqual([]);
      const { rows } = await admin.query<{ position_id: string }>(`SELECT position_id FROM ${schema}.group_offsets WHERE group_name = $1`, [group]);
      expect(rows[0]!.position_id).toBe('0'); // the offset did not pass the open row

      await writer.query('COMMIT');
      await waitFor('both events', () => reader.received.length >= 2, 20_000);
      expect(reader.received.map(seqOf)).toEqual([1, 2]);
      expect(reader.received.map((d) => d.attempt)).toEqual([1, 1]);
    } finally {
      await writer.query('ROLLBACK').catch(() => undefined);
      await writer.end();
    }
  });

  it('wakes an idle subscription by NOTIFY from another process long before its poll', async () => {
    const schema = freshSchema();
    const publisherSide = await open({ schema });
    const subscriberSide = await open({ schema, pollIntervalMs: 60_000, redeliverIntervalMs: 60_000 });
    const topic = uniqueName('notify');
    const reader = member(subscriberSide, topic, uniqueName('g'));
    // Its LISTEN is in place, and the read that follows it found nothing: it now waits for 60 s.
    await waitFor('the LISTEN connection', async () => {
      const { rowCount } = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE query = $1`, [`LISTEN "${transportChannel(schema)}"`]);
      return rowCount === 1;
    });
    await sleep(300);
    expect(reader.received).toEqual([]);

    await publisherSide.publisher.publish(topic, [probe(topic, 1)]);
    // The poll could not fire before 60 s; only the NOTIFY can bring it within 10 s.
    await waitFor('the event', () => reader.received.length === 1, 10_000);
    expect(seqOf(reader.received[0]!)).toBe(1);
  });

  it('keeps a slow handler’s delivery while it runs past processingTimeoutMs: no second member gets it', async () => {
    const transport = await open({ schema: freshSchema(), processingTimeoutMs: 600, redeliverIntervalMs: 100 });
    const topic = uniqueName('slow');
    const group = uniqueName('g');
    let acked = 0;
    const slow = async (delivery: Delivery): Promise<void> => {
      await sleep(2_500); // four processing timeouts
      await delivery.ack();
      acked += 1;
    };
    const a = member(transport, topic, group, slow);
    const b = member(transport, topic, group, slow);
    await transport.publisher.publish(topic, [probe(topic, 1)]);
    await waitFor('the ack', () => acked === 1, 20_000);
    await sleep(700); // sweeps keep running after the ack
    const all = [...a.received, ...b.received];
    expect(all).toHaveLength(1);
    expect(all[0]!.attempt).toBe(1);
  });

  it('keeps going for a group re-created after its offset row was deleted while it still held a claim', async () => {
    const schema = freshSchema();
    const transport = await open({ schema, processingTimeoutMs: 500, redeliverIntervalMs: 100 });
    const topic = uniqueName('retired');
    const group = uniqueName('g');
    await transport.publisher.publish(topic, [probe(topic, 1), probe(topic, 2), probe(topic, 3)]);
    const first = member(transport, topic, group, async (delivery) => {
      if (seqOf(delivery) !== 2) await delivery.ack(); // seq 2 stays claimed
    });
    await waitFor('three deliveries', () => first.received.length >= 3, 10_000);
    first.controller.abort();
    await first.finished;
    // The group is retired as the README says (its offset row deleted) and then used again.
    await admin.query(`DELETE FROM ${schema}.group_offsets WHERE group_name = $1`, [group]);
    const again = member(transport, topic, group);
    await waitFor('all three again', () => new Set(again.received.map(seqOf)).size === 3, 15_000);
    expect(new Set(again.received.map(seqOf))).toEqual(new Set([1, 2, 3]));
  });

  it('shares one group among four members under contention: every event once, none to two members', async () => {
    const transport = await open({ schema: freshSchema() });
    const topic = uniqueName('share');
    const group = uniqueName('g');
    const ackSoon = async (delivery: Delivery): Promise<void> => {
      await sleep(Math.random() * 3);
      await delivery.ack();
    };
    const members = Array.from({ length: 4 }, () => member(transport, topic, group, ackSoon, 5));
    const events = Array.from({ length: 400 }, (_, i) => probe(topic, i));
    for (let i = 0; i < events.length; i += 10) await transport.publisher.publish(topic, events.slice(i, i + 10));
    const all = (): Delivery[] => members.flatMap((m) => m.received);
    await waitFor('400 deliveries', () => all().length >= 400, 30_000);
    await sleep(300);
    const seqs = all().map(seqOf);
    expect(seqs).toHaveLength(400);
    expect(new Set(seqs).size).toBe(400);
    expect(members.filter((m) => m.received.length > 0).length).toBeGreaterThan(1);
  });

  it('purges, every purgeIntervalMs, rows past retention that every group passed and no claim holds', async () => {
    const schema = freshSchema();
    const transport = await open({ schema, purgeIntervalMs: 200 });
    const [acked, held, orphan, unread, young] = ['acked', 'held', 'orphan', 'unread', 'young'].map((name) => uniqueName(name)) as [string, string, string, string, string];
    const g1 = uniqueName('g1');
    const g2 = uniqueName('g2');
    // acked: both groups acked both events. held: g2 holds a claim on the second event.
    await transport.publisher.publish(acked, [probe(acked, 1), probe(acked, 2)]);
    await transport.publisher.publish(held, [probe(held, 1), probe(held, 2)]);
    // orphan: no group ever subscribed. unread: a group exists and has read nothing. young: inside retention.
    await transport.publisher.publish(orphan, [probe(orphan, 1)]);
    await transport.publisher.publish(unread, [probe(unread, 1)]);
    await transport.publisher.publish(young, [probe(young, 1)]);
    await admin.query(`INSERT INTO ${schema}.group_offsets (topic, group_name) VALUES ($1, $2)`, [unread, g1]);

    const members = [
      member(transport, acked, g1), member(transport, acked, g2),
      member(transport, held, g1), member(transport, held, g2, async (d) => (seqOf(d) === 1 ? d.ack() : undefined)),
      member(transport, young, g1),
    ];
    await waitFor('every delivery', () => members.every((m) => m.received.length === (m === members[4] ? 1 : 2)), 20_000);
    await waitFor('the acks', async () => (await admin.query(`SELECT 1 FROM ${schema}.claims`)).rowCount === 1, 20_000);

    const count = async (topic: string): Promise<number> => Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.topic_log WHERE topic = $1`, [topic])).rows[0]!.n);
    expect(await count(acked)).toBe(2); // nothing is past retention yet
    await admin.query(`UPDATE ${schema}.topic_log SET published_at = now() - interval '8 days' WHERE topic <> $1`, [young]);

    await waitFor('the periodic purge', async () => (await count(acked)) === 0 && (await count(orphan)) === 0, 20_000);
    expect(await count(held)).toBe(1); // the claimed one stays
    expect(await count(unread)).toBe(1); // a group has not passed it
    expect(await count(young)).toBe(1); // inside retention
    expect(await transport.purge()).toBe(0);

    // Once the claim is settled, a later purge takes that row too.
    await members[3]!.received[1]!.ack();
    await waitFor('the settled row purged', async () => (await count(held)) === 0, 20_000);
  });

  it('purge() deletes at once and counts what it deleted', async () => {
    const schema = freshSchema();
    const transport = await open({ schema, purgeIntervalMs: 3_600_000 });
    const topic = uniqueName('purge');
    await transport.publisher.publish(topic, [probe(topic, 1), probe(topic, 2), probe(topic, 3)]);
    const reader = member(transport, topic, uniqueName('g'));
    await waitFor('3 deliveries', () => reader.received.length === 3);
    await waitFor('the acks', async () => (await admin.query(`SELECT 1 FROM ${schema}.claims`)).rowCount === 0);
    expect(await transport.purge()).toBe(0);
    await admin.query(`UPDATE ${schema}.topic_log SET published_at = now() - interval '8 days'`);
    expect(await transport.purge()).toBe(3);
    expect((await admin.query(`SELECT 1 FROM ${schema}.topic_log`)).rowCount).toBe(0);
  });

  it('creates its tables once when two transports start at once on a fresh schema, and refuses a missing one with migrate: false', async () => {
    const schema = freshSchema();
    await Promise.all([open({ schema }), open({ schema })]);
    const { rows } = await admin.query<{ id: string }>(`SELECT id FROM ${schema}.transport_migrations`);
    expect(rows.map((r) => r.id)).toEqual(['transport_0001_log_offsets_claims']);

    const missing = uniqueName('tp_missing');
    const refused = await createPostgresTransport({ connectionString: POSTGRES_URL, schema: missing, migrate: false }).then(() => undefined, (error: unknown) => error);
    expect(refused).toMatchObject({ code: 'SCHEMA_NOT_MIGRATED' });
    expect((refused as Error).message).toContain(missing);
  });

  it('rejects with ServerUnreachableError naming the address when PostgreSQL does not answer', async () => {
    const port = await freePort(); // nothing listens there
    const refused = await createPostgresTransport({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectTimeoutMs: 2_000 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ServerUnreachableError);
    expect(refused).toMatchObject({ code: 'SERVER_UNREACHABLE', address: `127.0.0.1:${port}/postgres` });
    expect((refused as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('runs two transports of different schemas on a caller’s pool and leaves the pool open', async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
    try {
      const [first, second] = await Promise.all([open({ pool, schema: freshSchema() }), open({ pool, schema: freshSchema() })]);
      const topic = uniqueName('shared');
      const readers = [first, second].map((transport) => member(transport, topic, uniqueName('g')));
      await first.publisher.publish(topic, [probe(topic, 1)]);
      await second.publisher.publish(topic, [probe(topic, 2), probe(topic, 3)]);
      await waitFor('each schema’s events', () => readers[0]!.received.length === 1 && readers[1]!.received.length === 2);
      expect(readers.map((r) => r.received.map(seqOf))).toEqual([[1], [2, 3]]);
      for (const controller of controllers) controller.abort();
      await Promise.all([first.close(), second.close()]);
      expect((await pool.query<{ ok: number }>('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it('refuses use after close with TRANSPORT_CLOSED', async () => {
    const transport = await open({ schema: freshSchema() });
    await transport.close();
    const topic = uniqueName('closed');
    await expect(transport.publisher.publish(topic, [probe(topic, 1)])).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
    expect(() => transport.subscriber.subscribe(topic, { group: 'g', consumer: 'c', signal: new AbortController().signal })).toThrow(
      expect.objectContaining({ code: 'TRANSPORT_CLOSED' }) as Error,
    );
  });
});
