import pg from 'pg';
import { purgeOutbox } from './outbox-admin.js';
import type { ResolvedRelayBaseConfig } from './relay-config.js';

/**
 * The leader's retention purge: deletes sent rows older than `retentionMs` every
 * `purgeIntervalMs`, off the leader session (on `config.pool`, else a one-connection pool
 * it opens on first use and ends in {@link close}). Failures go to `report`; the next
 * round tries again.
 */
export class RetentionPurge {
  readonly #config: ResolvedRelayBaseConfig;
  readonly #signal: AbortSignal;
  readonly #report: (error: unknown) => void;
  #nextAt = 0;
  #running: Promise<void> | undefined;
  #ownPool: pg.Pool | undefined;

  /** `signal` aborts a running purge and stops new ones (the relay is closing). */
  constructor(config: ResolvedRelayBaseConfig, signal: AbortSignal, report: (error: unknown) => void) {
    this.#config = config;
    this.#signal = signal;
    this.#report = report;
  }

  /** When the next purge is due (epoch ms); an idle leader wakes up for it. */
  get nextAt(): number {
    return this.#nextAt;
  }

  /** Makes a purge due now: a new leader purges first. */
  dueNow(): void {
    this.#nextAt = Date.now();
  }

  /** Starts a purge when one is due; skips the round while the last one still runs. */
  maybeStart(): void {
    if (Date.now() < this.#nextAt || this.#signal.aborted) return;
    this.#nextAt = Date.now() + this.#config.purgeIntervalMs;
    if (this.#running) return;
    const pool = this.#config.pool ?? this.#sidePool();
    this.#running = purgeOutbox(pool, this.#config.schema, this.#config.retentionMs, { signal: this.#signal })
      .then(
        () => undefined,
        (error: unknown) => {
          if (!this.#signal.aborted) this.#report(error);
        },
      )
      .finally(() => {
        this.#running = undefined;
      });
  }

  /** Waits for a running purge and ends the pool this purge opened. Call once `signal` has aborted. */
  async close(): Promise<void> {
    await this.#running;
    await this.#ownPool?.end().catch(() => undefined);
  }

  #sidePool(): pg.Pool {
    if (!this.#ownPool) {
      this.#ownPool = new pg.Pool({ ...this.#config.clientConfig, connectionString: this.#config.connectionString, max: 1, application_name: `datasync-relay-purge:${this.#config.schema}` });
      this.#ownPool.on('error', () => {
        // an idle connection dropped; the pool replaces it on next use
      });
    }
    return this.#ownPool;
  }
}
