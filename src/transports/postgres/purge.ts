import type pg from 'pg';
import type { TransportStatements } from './statements.js';

/** Rows deleted per purge statement; a purge runs statements until one deletes fewer. */
const PURGE_BATCH = 10_000;

/**
 * Deletes log rows older than `retentionMs` that every group of their topic has passed and no
 * claim holds, in batches. Returns how many it deleted. While another transport purges the same
 * schema (an advisory try-lock), it deletes nothing and returns 0.
 */
export async function purgeTopicLog(pool: pg.Pool, statements: TransportStatements, schema: string, retentionMs: number): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await pool.query({ ...statements.purge, values: [`datasync.transport.purge.${schema}`, retentionMs, PURGE_BATCH] });
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < PURGE_BATCH) return total;
  }
}

/** Runs {@link purgeTopicLog} every `intervalMs`, one run at a time; failures are left to the next run. */
export class PurgeSchedule {
  readonly #run: () => Promise<number>;
  readonly #timer: NodeJS.Timeout;
  #running: Promise<number> | undefined;
  #stopped = false;

  constructor(run: () => Promise<number>, intervalMs: number, report: (error: unknown) => void) {
    this.#run = run;
    this.#timer = setInterval(() => void this.runNow().catch(report), intervalMs);
    // Retention alone does not keep a process alive.
    this.#timer.unref();
  }

  /** Purges now, or joins the run in progress. */
  runNow(): Promise<number> {
    if (this.#stopped) return Promise.resolve(0);
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
  }
}
