import { describe, expect, it } from 'vitest';
import { OutboxNotifier } from '../../src/postgres/outbox-notifier.js';
import type { QueryResult, SqlExecutor } from '../../src/postgres/sql.js';

/** Records statements; each answers after `delayMs`. */
function recorder(delayMs: number): SqlExecutor & { sent: { sql: string; at: number }[] } {
  const sent: { sql: string; at: number }[] = [];
  return {
    sent,
    query<R extends object>(sql: string): Promise<QueryResult<R>> {
      sent.push({ sql, at: performance.now() });
      return new Promise((resolve) => setTimeout(() => resolve({ rows: [], rowCount: 0 }), delayMs));
    },
  };
}

describe('OutboxNotifier', () => {
  it('sends an asynchronously committed NOTIFY on the outbox channel at once', async () => {
    const db = recorder(1);
    const notifier = new OutboxNotifier(db, 'catalog');
    notifier.notify();
    expect(db.sent.map((s) => s.sql)).toEqual([`SET LOCAL synchronous_commit TO off; SELECT pg_notify('datasync_outbox_catalog', '')`]);
    await notifier.settled();
  });

  it('coalesces a burst into few NOTIFYs spaced by minIntervalMs, the last call always followed by one', async () => {
    const db = recorder(2);
    const notifier = new OutboxNotifier(db, 'catalog', { minIntervalMs: 20 });
    const started = performance.now();
    while (performance.now() - started < 100) {
      notifier.notify();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const lastCall = performance.now();
    const beforeSettled = db.sent.length;
    await notifier.settled(); // sends a scheduled NOTIFY at once: it may follow the previous one closely
    expect(db.sent.length).toBeGreaterThanOrEqual(3);
    expect(db.sent.length).toBeLessThanOrEqual(8);
    // during the burst: spaced out (timers may fire a millisecond or two early), not back to back
    for (let i = 1; i < beforeSettled; i++) expect(db.sent[i]!.at - db.sent[i - 1]!.at).toBeGreaterThanOrEqual(15);
    expect(db.sent.at(-1)!.at).toBeGreaterThanOrEqual(lastCall - 20);
  });

  it('rejects a schema name that would not be a safe channel', () => {
    expect(() => new OutboxNotifier(recorder(0), "x'; DROP TABLE t; --")).toThrow(/schema/);
  });
});
