import { expect, it } from 'vitest';
import { defineTopic } from '../../src/core/contracts.js';
import { PublisherForbiddenError, SchemaValidationError } from '../../src/core/errors.js';
import { DeadLetterStore } from '../../src/postgres/dead-letter-store.js';
import { appliedMigrations, DATASYNC_MIGRATIONS, migrate } from '../../src/postgres/migrations.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import { inTransaction } from '../../src/postgres/sql.js';
import { applyIfNewer, applyLastWriteWins, readModelMigration } from '../../src/runtime/conflict.js';
import { itemTopic } from '../support/pipeline.js';
import { useTestResources } from '../support/resources.js';
import { describeWithServers } from '../support/servers.js';

describeWithServers(['postgres'], 'PostgreSQL storage: migrations, outbox writer, conflict helpers', () => {
  const r = useTestResources();

  it('migrates a schema once even when four runners start at the same moment, and again is a no-op', async () => {
    const schema = r.schema('m');
    const results = await Promise.all([1, 2, 3, 4].map(() => migrate(r.pool, schema, [readModelMigration('rm', 'items')])));
    expect(results.flat().sort()).toEqual([...DATASYNC_MIGRATIONS.map((m) => m.id), 'rm'].sort());
    expect(await migrate(r.pool, schema, [readModelMigration('rm', 'items')])).toEqual([]);
    expect(await appliedMigrations(r.pool, schema)).toHaveLength(DATASYNC_MIGRATIONS.length + 1);
  });

  it('writes nothing when an event fails its schema or comes from a service that may not publish it', async () => {
    const schema = r.schema('w');
    await migrate(r.pool, schema);
    const topic = itemTopic(`${schema.replace('_', '')}.item.changed`, schema, []);
    const writer = new OutboxWriter({ service: schema });
    const count = async () => (await r.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".outbox`)).rows[0]!.n;

    await expect(inTransaction(r.pool, (tx) => writer.publishMany(tx, topic, [{ data: { id: 'a', seq: 1 } }, { data: { id: '', seq: -1 } }])))
      .rejects.toSatisfy((error: unknown) => error instanceof SchemaValidationError && /\/id .*\/seq|\/seq .*\/id/.test(error.message));
    expect(await count()).toBe(0);
    const foreign = defineTopic({ name: 'other.item.changed', version: 1, owner: 'other', subscribers: [], schema: { type: 'object' } });
    await expect(inTransaction(r.pool, (tx) => writer.publish(tx, foreign, {}))).rejects.toBeInstanceOf(PublisherForbiddenError);
    expect(await count()).toBe(0);
    await inTransaction(r.pool, (tx) => writer.publish(tx, topic, { id: 'a', seq: 1 }, { entityVersion: 3 }));
    const [row] = (await r.pool.query<{ envelope: Record<string, unknown>; partition_key: string }>(`SELECT envelope, partition_key FROM "${schema}".outbox`)).rows;
    expect(row).toMatchObject({ partition_key: 'a', envelope: { source: schema, partitionkey: 'a', subject: 'a', entityversion: 3, data: { id: 'a', seq: 1 } } });
  });

  it('dead-letter filters match error text literally: % and _ are not wildcards', async () => {
    const schema = r.schema('d');
    await migrate(r.pool, schema);
    const store = new DeadLetterStore(schema);
    const base = { consumer: 'c', topic: 't.x.y', partitionKey: null, envelope: null, rawBody: '{}', reason: 'malformed' as const, errorClass: 'Error', errorCode: null, attempts: 1, firstFailedAt: new Date(), lastFailedAt: new Date() };
    await store.record(r.pool, { ...base, eventId: 'a', errorMessage: 'HANDLER FAILED at 100 percent' });
    await store.record(r.pool, { ...base, eventId: 'b', errorMessage: 'quota_exceeded at 100%' });
    const ids = async (error: string) => (await store.list(r.pool, { error })).map((l) => l.eventId);
    expect(await ids('_')).toEqual(['b']);
    expect(await ids('100%')).toEqual(['b']);
    expect(await ids('handler failed')).toEqual(['a']);
    expect(await ids('HANDLER_FAILED')).toEqual([]);
  });

  it('applyIfNewer applies only newer versions and keeps a tombstone an older update cannot resurrect', async () => {
    const schema = r.schema('v');
    await migrate(r.pool, schema, [readModelMigration('rm', 'items')]);
    const change = (version: number, data: unknown) => ({ schema, table: 'items', id: 'p1', version, eventTime: '2026-01-01T00:00:00Z', eventId: `e${version}`, data });
    const outcomes = await inTransaction(r.pool, async (tx) => [
      await applyIfNewer(tx, change(2, { name: 'two' })),
      await applyIfNewer(tx, change(1, { name: 'one' })),
      await applyIfNewer(tx, change(2, { name: 'two again' })),
      await applyIfNewer(tx, change(3, null)),
      await applyIfNewer(tx, change(2, { name: 'resurrected?' })),
    ]);
    expect(outcomes).toEqual(['applied', 'stale', 'stale', 'applied', 'stale']);
    const [row] = (await r.pool.query<{ version: number; deleted: boolean; data: unknown }>(`SELECT version::int, deleted, data FROM "${schema}".items`)).rows;
    expect(row).toEqual({ version: 3, deleted: true, data: null });
  });

  it('applyLastWriteWins picks the later event time, ties broken by event id, whatever the arrival order', async () => {
    const schema = r.schema('l');
    await migrate(r.pool, schema, [readModelMigration('rm', 'items')]);
    const changes = [
      { eventTime: '2026-01-01T00:00:01.000Z', eventId: '0190a', data: { v: 'early' } },
      { eventTime: '2026-01-01T00:00:02.000Z', eventId: '0190b', data: { v: 'late, lower id' } },
      { eventTime: '2026-01-01T00:00:02.000Z', eventId: '0190c', data: { v: 'late, higher id' } },
    ];
    for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) {
      await r.pool.query(`TRUNCATE "${schema}".items`);
      await inTransaction(r.pool, async (tx) => {
        for (const i of order) await applyLastWriteWins(tx, { schema, table: 'items', id: 'p1', ...changes[i]! });
      });
      const [row] = (await r.pool.query<{ data: { v: string } }>(`SELECT data FROM "${schema}".items`)).rows;
      expect(row!.data.v).toBe('late, higher id');
    }
  });
});
