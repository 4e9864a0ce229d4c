import type pg from 'pg';
import { quoteIdent } from '../../postgres/sql.js';

const BACKOFF = { initialMs: 100, maxMs: 2_000 };

/**
 * One LISTEN connection per transport, checked out of the pool while any subscription listens.
 * A notification's payload is a topic ('' wakes every topic). When the connection is lost it
 * is re-established with backoff (up to 2 s between tries), and every listener is woken then,
 * since notifications sent meanwhile are gone.
 */
export class TopicListener {
  readonly #pool: pg.Pool;
  readonly #channel: string;
  readonly #report: (error: unknown) => void;
  readonly #listeners = new Map<string, Set<() => void>>();
  #running: Promise<void> | undefined;
  /** Ends the current connection's wait (lost, stopped, or no listener left), or the backoff pause. */
  #interrupt: (() => void) | undefined;
  #stopped = false;

  constructor(pool: pg.Pool, channel: string, report: (error: unknown) => void) {
    this.#pool = pool;
    this.#channel = channel;
    this.#report = report;
  }

  /** Calls `wake` on each notification for `topic`; returns the function that stops it. */
  listen(topic: string, wake: () => void): () => void {
    let set = this.#listeners.get(topic);
    if (!set) this.#listeners.set(topic, (set = new Set()));
    set.add(wake);
    if (!this.#stopped) this.#running ??= this.#run();
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.#listeners.get(topic) === set) this.#listeners.delete(topic);
      // The last listener gone: give the connection back to the pool.
      if (this.#listeners.size === 0) this.#interrupt?.();
    };
  }

  /** Wakes the listeners of `topic` (or all, for ''); used for publishes of this process too. */
  wake(topic: string): void {
    if (topic === '') {
      for (const set of this.#listeners.values()) for (const wake of set) wake();
      return;
    }
    for (const wake of this.#listeners.get(topic) ?? []) wake();
  }

  /** Releases the connection; idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#interrupt?.();
    await this.#running;
  }

  get #wanted(): boolean {
    return !this.#stopped && this.#listeners.size > 0;
  }

  /** Resolves after `ms`, or at once when interrupted. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#interrupt = done;
    });
  }

  async #run(): Promise<void> {
    try {
      await this.#connectionLoop();
    } finally {
      this.#running = undefined;
      // A listener may have arrived while the loop was ending.
      if (this.#wanted) this.#running = this.#run();
    }
  }

  async #connectionLoop(): Promise<void> {
    let backoff = BACKOFF.initialMs;
    while (this.#wanted) {
      let client: pg.PoolClient | undefined;
      let failure: Error | undefined;
      let ended!: () => void;
      const lost = new Promise<void>((resolve) => (ended = resolve));
      const onError = (error: Error): void => {
        failure = error;
        ended();
      };
      const onNotification = (message: pg.Notification): void => {
        if (message.channel === this.#channel) this.wake(message.payload ?? '');
      };
      try {
        client = await this.#pool.connect();
        this.#interrupt = ended;
        client.on('error', onError);
        client.on('end', ended);
        client.on('notification', onNotification);
        if (!this.#wanted) ended();
        await client.query(`LISTEN ${quoteIdent(this.#channel, 'channel')}`);
        backoff = BACKOFF.initialMs;
        // Anything notified while no connection listened is lost: read now.
        this.wake('');
        await lost;
      } catch (error) {
        failure ??= error instanceof Error ? error : new Error(String(error));
      } finally {
        this.#interrupt = undefined;
        // A connection that failed is destroyed; a healthy one at stop() goes back without its LISTEN.
        if (client) {
          if (failure === undefined) {
            try {
              await client.query(`UNLISTEN ${quoteIdent(this.#channel, 'channel')}`);
            } catch (error) {
              failure = error instanceof Error ? error : new Error(String(error));
            }
          }
          client.off('notification', onNotification);
          client.off('end', ended);
          client.release(failure ?? false);
          // A destroyed client keeps our error listener (a late 'error' event must not go unhandled);
          // a healthy one has the pool's idle listener now.
          if (failure === undefined) client.off('error', onError);
        }
      }
      if (!this.#wanted) break;
      if (failure !== undefined) {
        this.#report(failure);
        await this.#pause(backoff);
        backoff = Math.min(backoff * 2, BACKOFF.maxMs);
      }
    }
  }
}
