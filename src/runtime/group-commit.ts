import { HandlerError } from '../core/errors.js';
import type { SqlExecutor, SqlPool } from '../postgres/sql.js';

/** Tuning of {@link GroupCommitter}. */
export interface GroupCommitConfig {
  /** Most units in one transaction. Default 128. */
  readonly maxBatch?: number;
  /**
   * Transactions in flight at once (each on its own connection). Default 1: every commit
   * is a WAL flush, and units that arrive while one is in flight make the next batch
   * larger, which is what keeps a busy consumer's cost per event low.
   */
  readonly parallel?: number;
}

/**
 * A step run first in every transaction, over the tags of all its units, returning
 * one result per unit (in order) that is handed to that unit's work. The consumer
 * uses it to record every event of the batch in `processed_events` with one statement.
 */
export type BatchPrelude<Tag, Prepared> = (tx: SqlExecutor, tags: readonly Tag[]) => Promise<readonly Prepared[]>;

/**
 * Lets the units of one group in a transaction run as one call (a batch handler).
 * If that call throws, the transaction is rolled back and each of those units runs
 * alone through its own `work` in later transactions, so a failing unit fails alone.
 */
export interface Batchable<Prepared> {
  /** Units with the same group (compared with ===) in one transaction run together. */
  readonly group: object;
  /** This unit's input to `run`. */
  readonly item: unknown;
  /** Runs the units of a group at once; returns one result per unit, in order. */
  readonly run: (tx: SqlExecutor, units: readonly { readonly prepared: Prepared | undefined; readonly item: unknown }[]) => Promise<readonly unknown[]>;
}

interface Unit<Tag, Prepared> {
  readonly tag: Tag;
  readonly work: (tx: SqlExecutor, prepared: Prepared | undefined) => Promise<unknown>;
  readonly batchable: Batchable<Prepared> | undefined;
  /** Set after its group's batch call failed: runs through `work` from then on. */
  solo: boolean;
  /**
   * Set when a transaction it shared was aborted by a unit that is not known (a
   * handler caught a database error, or COMMIT failed): it then runs in a transaction
   * of its own, so a failure can only be its own.
   */
  isolated: boolean;
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
    this.#parallel = config.parallel ?? 1;
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
  run<T>(tag: Tag, work: (tx: SqlExecutor, prepared: Prepared | undefined) => Promise<T>, batchable?: Batchable<Prepared>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ tag, work, batchable, solo: false, isolated: false, resolve: resolve as (value: unknown) => void, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#parallel && this.#queue.length > 0) {
      const batch = this.#nextBatch();
      this.#inFlight += 1;
      void this.#runBatch(batch).finally(() => {
        this.#inFlight -= 1;
        this.#pump();
      });
    }
  }

  /** The next units to run together: an isolated unit alone, else up to maxBatch units that are not isolated. */
  #nextBatch(): Unit<Tag, Prepared>[] {
    if (this.#queue[0]!.isolated) return this.#queue.splice(0, 1);
    const batch: Unit<Tag, Prepared>[] = [];
    for (let i = 0; i < this.#queue.length && batch.length < this.#maxBatch; ) {
      if (this.#queue[i]!.isolated) i++;
      else batch.push(...this.#queue.splice(i, 1));
    }
    return batch;
  }

  /** Puts the units back first in line, each to run alone: the culprit of a failure is unknown. */
  #isolate(batch: Unit<Tag, Prepared>[]): void {
    for (const unit of batch) unit.isolated = true;
    this.#queue.unshift(...batch);
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
      const doneByGroup = new Set<number>();
      for (const members of batchGroups(batch)) {
        const spec = batch[members[0]!]!.batchable!;
        try {
          const results = await spec.run(client, members.map((i) => ({ prepared: prepared[i], item: batch[i]!.batchable!.item })));
          members.forEach((i, k) => {
            batch[i]!.result = results[k];
            doneByGroup.add(i);
          });
        } catch {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackError) {
            broken = rollbackError as Error;
          }
          // Find the failing unit by running these one at a time; the whole batch goes again.
          for (const i of members) batch[i]!.solo = true;
          this.#queue.unshift(...batch);
          return;
        }
      }
      for (let i = 0; i < batch.length; i++) {
        const unit = batch[i]!;
        if (doneByGroup.has(i)) continue;
        try {
          unit.result = await unit.work(client, prepared[i]);
        } catch (error) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackError) {
            broken = rollbackError as Error;
          }
          if (sqlState(error) === IN_FAILED_TRANSACTION && batch.length > 1) {
            // An earlier unit caught a database error and went on: the culprit is unknown.
            this.#isolate(batch);
            return;
          }
          unit.reject(error);
          // The others' effects were rolled back with it: run them again, first in line.
          this.#queue.unshift(...batch.slice(0, i), ...batch.slice(i + 1));
          return;
        }
      }
      let committed: { command?: string };
      try {
        committed = (await client.query('COMMIT')) as { command?: string };
      } catch (error) {
        // A server error at COMMIT (a deferred constraint, serialization) rolled everything back:
        // find the culprit alone. Without an SQLSTATE the connection failed and the outcome is
        // unknown: fail every unit, whose retries idempotency makes safe.
        if (sqlState(error) !== undefined && batch.length > 1) this.#isolate(batch);
        else for (const unit of batch) unit.reject(error);
        broken = error as Error;
        return;
      }
      if (committed.command === 'ROLLBACK') {
        // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK and no error:
        // a unit caught a database error and went on.
        if (batch.length > 1) this.#isolate(batch);
        else batch[0]!.reject(new HandlerError(new Error('a statement failed inside the handler and its error was caught; the transaction was rolled back. Let database errors propagate (or use a SAVEPOINT) so they can be retried.')));
        return;
      }
      this.#batches += 1;
      for (const unit of batch) unit.resolve(unit.result);
    } catch (error) {
      // BEGIN or the prelude failed: the connection is suspect and nothing was done.
      broken = error as Error;
      for (const unit of batch) unit.reject(error);
    } finally {
      client.release(broken);
    }
  }
}

/** Indexes of the batchable units of each group that has at least two of them. */
function batchGroups<Tag, Prepared>(batch: readonly Unit<Tag, Prepared>[]): number[][] {
  const groups = new Map<object, number[]>();
  batch.forEach((unit, i) => {
    if (!unit.batchable || unit.solo) return;
    const members = groups.get(unit.batchable.group);
    if (members) members.push(i);
    else groups.set(unit.batchable.group, [i]);
  });
  return [...groups.values()].filter((members) => members.length > 1);
}

/** SQLSTATE 25P02: a statement ran in a transaction an earlier error had aborted. */
const IN_FAILED_TRANSACTION = '25P02';

/** The SQLSTATE of a PostgreSQL error, or undefined for any other error (e.g. a lost connection). */
function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
