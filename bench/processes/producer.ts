import pg from 'pg';
import { benchNowMs } from '../harness/clock.js';
import { failChild, sendToParent, serveParent, showSynchronousCommit } from '../harness/child-process.js';
import type { InitMessage, StartMessage } from '../harness/messages.js';
import { writeProduct } from '../harness/products.js';
import { SampleBuffer } from '../harness/stats.js';
import { loadSystem, type BenchContext, type OutboxAppender, type ProductEvent } from '../harness/system.js';

/**
 * The open-loop load generator. Event `seq` is due at `startAtMs + seq / rate`; that
 * intended time is fixed by the schedule, not by when the send actually happens, and
 * travels in the event, so a stalled pipeline shows up as latency instead of as a
 * slower producer (no coordinated omission). Each event is its own owner transaction:
 * `BEGIN; upsert products row; insert outbox row; COMMIT` on a pool of connections;
 * when every connection is busy, due sends wait in a queue and their wait counts.
 *
 * Several producer processes can share one schedule: process k of n sends the events
 * whose `seq % n === k`, so one event loop does not cap the offered rate. Which
 * product an event changes is a function of its `seq` alone, so the load is the
 * same whatever the number of processes.
 */

let ctx: BenchContext;
let pool: pg.Pool;
let outbox: OutboxAppender;
let connections = 24;
let productCount = 5_000;
let shardIndex = 0;
let shardCount = 1;
/** Set while a schedule runs: stops scheduling and drops the queued sends. */
let finishEarly: (() => void) | undefined;

/** A 32-bit integer hash (mulberry32's mixer) of `n`: the same pseudo-random value for the same seq in every run. */
function hash32(n: number): number {
  let t = (Math.imul(n, 0x9e3779b1) + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

async function init(message: InitMessage): Promise<void> {
  ctx = message.ctx;
  productCount = message.products ?? productCount;
  connections = message.connections ?? connections;
  shardIndex = message.shardIndex ?? 0;
  shardCount = message.shardCount ?? 1;
  pool = new pg.Pool({ connectionString: ctx.postgresUrl, max: connections, idleTimeoutMillis: 0, application_name: `${ctx.applicationName}-producer` });
  pool.on('error', () => undefined);
  // open every connection now, so the measured window does not pay for connecting
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  const synchronousCommit = await showSynchronousCommit(clients[0]!);
  for (const client of clients) client.release();
  const system = await loadSystem(message.system);
  outbox = await system.openOutbox(ctx);
  sendToParent({ type: 'ready', synchronousCommit });
}

async function run({ rate, durationMs, startAtMs, measureFromMs }: StartMessage): Promise<void> {
  const total = Math.round((rate * durationMs) / 1000);
  const intervalMs = 1000 / rate;
  const commitLatencies = new SampleBuffer();
  const queue: number[] = []; // seqs due and waiting for a connection
  let queueHead = 0;
  let next = shardIndex; // the next seq of this shard to schedule
  let scheduled = 0;
  let abandoned = 0;
  let sent = 0;
  let failed = 0;
  let active = 0;
  let firstError: string | undefined;
  let maxDispatchLagMs = 0;
  let finished = false;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const intendedAt = (seq: number): number => startAtMs + seq * intervalMs;

  const checkDone = (): void => {
    if ((finished || next >= total) && queueHead === queue.length && active === 0) resolveDone();
  };

  const send = async (seq: number): Promise<void> => {
    const intendedAtMs = intendedAt(seq);
    const h = hash32(seq);
    const n = h % productCount;
    const id = `p${String(n).padStart(6, '0')}`;
    const name = `Product ${n}`;
    const priceCents = 100 + (hash32(h) % 100_000);
    let client: pg.PoolClient | undefined;
    let broken: Error | undefined;
    try {
      client = await pool.connect();
      await client.query('BEGIN');
      try {
        const version = await writeProduct(client, ctx.ownerSchema, id, name, priceCents);
        const event: ProductEvent = { id, name, priceCents, version, seq, intendedAtMs };
        await outbox.append(client, event);
        await client.query('COMMIT');
        outbox.committed?.();
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
        throw error;
      }
      sent++;
      if (intendedAtMs >= measureFromMs) commitLatencies.push(benchNowMs() - intendedAtMs);
    } catch (error) {
      failed++;
      firstError ??= (error as Error).message;
    } finally {
      client?.release(broken);
    }
  };

  const pump = (): void => {
    while (active < connections && queueHead < queue.length) {
      const seq = queue[queueHead++]!;
      active++;
      void send(seq).finally(() => {
        active--;
        pump();
        checkDone();
      });
    }
    if (queueHead > 4096 && queueHead * 2 > queue.length) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
  };

  finishEarly = () => {
    finished = true;
    abandoned += queue.length - queueHead;
    queue.length = 0;
    queueHead = 0;
    checkDone();
  };

  const progress = setInterval(() => sendToParent({ type: 'producer-progress', sent, failed, inFlight: active + queue.length - queueHead }), 250);
  const tick = (): void => {
    if (finished) return;
    const now = benchNowMs();
    const due = Math.min(total, Math.floor((now - startAtMs) / intervalMs) + 1);
    while (next < due) {
      maxDispatchLagMs = Math.max(maxDispatchLagMs, now - intendedAt(next));
      queue.push(next);
      next += shardCount;
      scheduled++;
    }
    pump();
    // wake when the next event is due (Node timers fire at ~1 ms granularity; later events wait in the queue)
    if (next < total) setTimeout(tick, Math.max(0, intendedAt(next) - benchNowMs()));
    else checkDone();
  };
  setTimeout(tick, Math.max(0, startAtMs - benchNowMs()));
  await done;
  finishEarly = undefined;
  clearInterval(progress);
  sendToParent({ type: 'producer-progress', sent, failed, inFlight: 0 });
  sendToParent({
    type: 'producer-done',
    scheduled,
    sent,
    failed,
    abandoned,
    firstError,
    commitLatencies: commitLatencies.toArray(),
    maxDispatchLagMs: Math.round(maxDispatchLagMs * 100) / 100,
  });
}

serveParent(async (message) => {
  switch (message.type) {
    case 'init':
      return init(message);
    case 'start':
      // not awaited: the parent may send `finish` or `stop` while the schedule runs
      run(message).catch(failChild);
      return;
    case 'finish':
      finishEarly?.();
      return;
    case 'stop':
      await outbox?.close();
      await pool?.end();
      process.exit(0);
      return;
    case 'collect':
      return;
  }
});
