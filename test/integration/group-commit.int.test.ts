import { expect, it } from 'vitest';
import { migrate } from '../../src/postgres/migrations.js';
import { ProcessedEvents } from '../../src/postgres/processed-events.js';
import { GroupCommitter } from '../../src/runtime/group-commit.js';
import type { SyncError } from '../../src/core/errors.js';
import { useTestResources } from '../support/resources.js';
import { describeWithServers } from '../support/servers.js';

describeWithServers(['postgres'], 'group commit on PostgreSQL', () => {
  const r = useTestResources();

  it('commits many units in few transactions; a failing unit is rolled back alone and the others commit once', async () => {
    const schema = r.schema('gc');
    await migrate(r.pool, schema, [{ id: 'log', sql: 'CREATE TABLE {schema}.log (unit integer PRIMARY KEY)' }]);
    const processed = new ProcessedEvents(schema);
    const committer = new GroupCommitter<{ eventId: string; topic: string }, boolean>(
      r.pool, { maxBatch: 16, parallel: 2 }, (tx, tags) => processed.claimMany(tx, 'c', tags),
    );
    const outcomes = await Promise.allSettled(Array.from({ length: 100 }, (_, unit) =>
      committer.run({ eventId: `e${unit}`, topic: 't' }, async (tx, claimed) => {
        expect(claimed).toBe(true);
        await tx.query(`INSERT INTO "${schema}".log (unit) VALUES ($1)`, [unit]);
        if (unit === 42) throw new Error('unit 42 fails');
        return unit;
      })));

    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => (o).reason as Error)).toEqual([new Error('unit 42 fails')]);
    const logged = (await r.pool.query<{ unit: number }>(`SELECT unit FROM "${schema}".log ORDER BY unit`)).rows.map((row) => row.unit);
    expect(logged).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 42));
    const claimed = (await r.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".processed_events WHERE event_id <> 'e42'`)).rows[0]!.n;
    expect(claimed).toBe(99);
    expect(await processed.has(r.pool, 'c', 'e42')).toBe(false);
    expect(committer.batches).toBeLessThan(50);
  });

  it('never reports as committed what a handler that swallowed a database error rolled back', async () => {
    const schema = r.schema('gc');
    await migrate(r.pool, schema, [{ id: 'log', sql: 'CREATE TABLE {schema}.log (unit integer PRIMARY KEY)' }]);
    const processed = new ProcessedEvents(schema);
    const committer = new GroupCommitter<{ eventId: string; topic: string }, boolean>(
      r.pool, { maxBatch: 64, parallel: 1 }, (tx, tags) => processed.claimMany(tx, 'c', tags),
    );
    // Unit 7 runs a failing statement and catches the error: PostgreSQL aborts the whole
    // shared transaction and answers COMMIT with ROLLBACK. Its neighbours must still commit.
    const outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, unit) =>
      committer.run({ eventId: `e${unit}`, topic: 't' }, async (tx) => {
        if (unit === 7) {
          try { await tx.query('SELECT 1/0'); } catch { /* swallowed */ }
          return unit;
        }
        await tx.query(`INSERT INTO "${schema}".log (unit) VALUES ($1)`, [unit]);
        return unit;
      })));
    const rejected = outcomes.flatMap((o, unit) => (o.status === 'rejected' ? [unit] : []));
    expect(rejected).toEqual([7]);
    expect(((outcomes[7] as PromiseRejectedResult).reason as SyncError).code).toBe('HANDLER_FAILED');
    const logged = (await r.pool.query<{ unit: number }>(`SELECT unit FROM "${schema}".log ORDER BY unit`)).rows.map((row) => row.unit);
    expect(logged).toEqual(Array.from({ length: 40 }, (_, i) => i).filter((i) => i !== 7));
    expect(await processed.has(r.pool, 'c', 'e7')).toBe(false);
  });

  it('reports a repeated event id as a duplicate within one batch and across batches', async () => {
    const schema = r.schema('gc');
    await migrate(r.pool, schema);
    const processed = new ProcessedEvents(schema);
    const committer = new GroupCommitter<{ eventId: string; topic: string }, boolean>(r.pool, { parallel: 1 }, (tx, tags) => processed.claimMany(tx, 'c', tags));
    const first = await Promise.all(['a', 'a', 'b'].map((id) => committer.run({ eventId: id, topic: 't' }, async (_tx, claimed) => claimed)));
    expect(first.filter(Boolean)).toHaveLength(2);
    expect(first[2]).toBe(true);
    expect(await committer.run({ eventId: 'a', topic: 't' }, async (_tx, claimed) => claimed)).toBe(false);
  });
});
