/**
 * Runs tasks one after another per key and concurrently across keys: every event of
 * one entity (same partition key) is handled in arrival order, while up to
 * `concurrency` entities are handled at once. `maxQueued` bounds how many tasks
 * may wait in all, which is the consumer's back-pressure on the broker.
 */
export class OrderedLanes {
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #lanes = new Map<string, (() => Promise<void>)[]>();
  /** Keys with queued work waiting for a free slot, in arrival order. */
  readonly #ready: string[] = [];
  #running = 0;
  #queued = 0;
  #capacityWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];

  constructor(concurrency: number, maxQueued: number) {
    this.#concurrency = concurrency;
    this.#maxQueued = maxQueued;
  }

  /** Tasks accepted and not yet finished. */
  get size(): number {
    return this.#queued;
  }

  /** Resolves when another task may be pushed without exceeding `maxQueued`. */
  whenCapacity(): Promise<void> {
    if (this.#queued < this.#maxQueued) return Promise.resolve();
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  /** Resolves when no task is queued or running. */
  whenIdle(): Promise<void> {
    if (this.#queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Queues `task` behind earlier tasks of `key`. Task errors are the caller's to handle inside the task. */
  push(key: string, task: () => Promise<void>): void {
    this.#queued += 1;
    const lane = this.#lanes.get(key);
    if (lane) {
      lane.push(task);
      return;
    }
    this.#lanes.set(key, [task]);
    this.#ready.push(key);
    this.#drain();
  }

  #drain(): void {
    while (this.#running < this.#concurrency && this.#ready.length > 0) {
      const key = this.#ready.shift()!;
      this.#running += 1;
      void this.#runLane(key);
    }
  }

  async #runLane(key: string): Promise<void> {
    const lane = this.#lanes.get(key)!;
    while (lane.length > 0) {
      const task = lane[0]!;
      try {
        await task();
      } catch {
        // tasks handle their own errors; a throw here must not stall the lane
      }
      lane.shift();
      this.#queued -= 1;
      this.#notify();
    }
    this.#lanes.delete(key);
    this.#running -= 1;
    this.#drain();
    this.#notify();
  }

  #notify(): void {
    if (this.#queued < this.#maxQueued && this.#capacityWaiters.length > 0) {
      const waiters = this.#capacityWaiters;
      this.#capacityWaiters = [];
      for (const wake of waiters) wake();
    }
    if (this.#queued === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}
