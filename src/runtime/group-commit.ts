import type { SqlExecutor, SqlPool } from '../postgres/sql.js';

/** Tuning of {@link GroupCommitter}. */
export interface GroupCommitConfig {
  /** Most units in one transaction. Default 128. */
  readonly maxBatch?: number;
  /** Transactions in flight at once (each on its own connection). Default 2. */
  readonly parallel?: number;
}

/**
 * A step run first in every transaction, over the tags of all its units, returning
 * one result per unit (in order) that is handed to that unit's work. The consumer
 * uses it to record every event of the batch in `processed_events` with one statement.
 */
export type BatchPrelude<Tag, Prepared> = (tx: SqlExecutor, tags: readonly Tag[]) => Promise<readonly Prepared[]>;

interface Unit<Tag, Prepared> {
  readonly tag: Tag;
  readonly work: (tx: SqlExecutor, prepared: Prepared | undefined) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  result?: unknown;
}

/**
 * Application-level group commit. Units of work (one event each) submitted while a
 * transaction is in flight are run together in the next transaction, so a busy
 * consumer pays one COMMIT (one WAL flush) per batch instead of per event, while an
 * idle one commits each event at once.
 *
 * Each unit's promise settles only after its transaction commits, so the caller acks
 * only committed work. If a unit throws, the transaction is rolled back, that unit
 * alone is rejected with its error, and the other units run again in a later
 * transaction (their effects were rolled back too). If COMMIT fails, every unit of
 * the batch is rejected; callers retry and idempotency absorbs any that did commit.
 * Units must not depend on each other; the runtime never puts two events of one
 * entity in flight at once. A statement costs a round trip and server CPU on every
 * unit, so work that all units share (the idempotency record) belongs in the prelude.
 */
export class GroupCommitter<Tag = undefined, Prepared = undefined> {
  readonly #pool: SqlPool;
  readonly #maxBatch: number;
  readonly #parallel: number;
  readonly #prelude: BatchPrelude<Tag, Prepared> | undefined;
  readonly #queue: Unit<Tag, Prepared>[] = [];
  #inFlight = 0;
  #batches = 0;

  constructor(pool: SqlPool, config: GroupCommitConfig = {}, prelude?: BatchPrelude<Tag, Prepared>) {
    this.#pool = pool;
    this.#maxBatch = config.maxBatch ?? 128;
    this.#parallel = config.parallel ?? 2;
    this.#prelude = prelude;
  }

  /** Transactions committed so far. */
  get batches(): number {
    return this.#batches;
  }

  /**
   * Runs `work` in a shared transaction; resolves with its result after COMMIT. `tag`
   * goes to the prelude, whose result for this unit is passed to `work`.
   */
  run<T>(tag: Tag, work: (tx: SqlExecutor, prepared: Prepared | undefined) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ tag, work, resolve: resolve as (value: unknown) => void, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#parallel && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inFlight += 1;
      void this.#runBatch(batch).finally(() => {
        this.#inFlight -= 1;
        this.#pump();
      });
    }
  }

  async #runBatch(batch: Unit<Tag, Prepared>[]): Promise<void> {
    let client: Awaited<ReturnType<SqlPool['connect']>>;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      for (const unit of batch) unit.reject(error);
      return;
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const prepared = this.#prelude ? await this.#prelude(client, batch.map((unit) => unit.tag)) : [];
      for (let i = 0; i < batch.length; i++) {
        const unit = batch[i]!;
        try {
          unit.result = await unit.work(client, prepared[i]);
        } catch (error) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackError) {
            broken = rollbackError as Error;
          }
          unit.reject(error);
          // The others' effects were rolled back with it: run them again, first in line.
          this.#queue.unshift(...batch.slice(0, i), ...batch.slice(i + 1));
          return;
        }
      }
      await client.query('COMMIT');
      this.#batches += 1;
      for (const unit of batch) unit.resolve(unit.result);
    } catch (error) {
      // BEGIN, the prelude or COMMIT failed: the connection is suspect and the outcome unknown.
      broken = error as Error;
      for (const unit of batch) unit.reject(error);
    } finally {
      client.release(broken);
    }
  }
}
