const ignore = (): void => undefined;

/**
 * What every transport's subscription shares: the async-iterator protocol of a pull-driven
 * reader. `next()` calls run one at a time, in call order (a second waits for the first);
 * `return()`, and the subscription's `signal` aborting, end the iteration; `end()` runs the
 * subscription's clean-up once.
 *
 * A subclass implements {@link pull} (the next item, or done once {@link ended}) and
 * {@link onEnd}, and calls {@link endOnAbort} last in its constructor. A pull that waits for the
 * broker {@link sleep}s; whatever it waits for calls {@link wake}, and `end()` does too.
 */
export abstract class PullIterator<T> implements AsyncIterableIterator<T> {
  /** Settles when the iteration ends, so a step waiting on the broker can stop waiting. */
  readonly whenEnded: Promise<void>;
  #resolveEnded: () => void = ignore;
  #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.end();
  #ended = false;
  #pulls: Promise<unknown> = Promise.resolve();
  #wake: (() => void) | undefined;

  constructor() {
    this.whenEnded = new Promise((resolve) => (this.#resolveEnded = resolve));
  }

  /** True once {@link end} ran. */
  get ended(): boolean {
    return this.#ended;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    const result = this.#pulls.then(() => this.pull());
    this.#pulls = result.catch(ignore);
    return result;
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  /**
   * Stops the iteration at once; idempotent. A pull in progress finishes as done at its next
   * look at {@link ended}. What becomes of deliveries not settled is the subclass's
   * {@link onEnd}.
   */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.onEnd();
    this.wake();
    this.#resolveEnded();
  }

  /** Ends the current {@link sleep}, if any. A wake while nothing sleeps is not kept. */
  wake(): void {
    this.#wake?.();
  }

  /** One pull: the next item, or done once the iteration ended. Never runs beside another. */
  protected abstract pull(): Promise<IteratorResult<T>>;

  /** Releases what the subscription holds; called once, by {@link end}. */
  protected abstract onEnd(): void;

  /** Ends the iteration when `signal` aborts, at once if it has; call it last in the constructor. */
  protected endOnAbort(signal: AbortSignal): void {
    if (signal.aborted) {
      this.end();
      return;
    }
    this.#signal = signal;
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Resolves after `ms` (never, when omitted), or sooner at {@link wake} or {@link end}; one sleep at a time. */
  protected sleep(ms?: number): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

/**
 * The subscriptions of one subscriber that have not ended, so that its `close()` can end them.
 * A subscription leaves the set when it ends, however it ends.
 */
export class OpenSubscriptions<S extends PullIterator<unknown>> {
  readonly #open = new Set<S>();

  /** Keeps `subscription` until it ends (one that ended already, its signal aborted, is not kept); returns it. */
  add(subscription: S): S {
    if (subscription.ended) return subscription;
    this.#open.add(subscription);
    void subscription.whenEnded.then(() => this.#open.delete(subscription));
    return subscription;
  }

  /** Ends every open subscription. */
  endAll(): void {
    for (const subscription of [...this.#open]) subscription.end();
  }
}
