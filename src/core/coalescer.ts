const ignore = (): void => undefined;

/**
 * Runs `send` when asked, coalescing bursts: at most one run in flight and at most one per
 * `minIntervalMs`; requests made meanwhile produce one more run, as soon as both allow. A run's
 * failure is ignored. Used for NOTIFY wake-ups, which are hints backed by polling: the outbox's
 * (src/postgres/outbox-notifier.ts) and the PostgreSQL transport's (src/transports/postgres/notifier.ts).
 */
export class Coalescer {
  readonly #send: () => Promise<unknown>;
  readonly #minIntervalMs: number;
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastSentAt = -Infinity;

  constructor(send: () => Promise<unknown>, minIntervalMs: number) {
    this.#send = send;
    this.#minIntervalMs = minIntervalMs;
  }

  /** Asks for a run soon: at once, or when the interval since the last one has passed; returns at once. */
  request(): void {
    if (this.#timer || this.#inFlight) {
      this.#timer ??= setTimeout(() => this.#run(), this.#minIntervalMs);
      return;
    }
    const wait = this.#lastSentAt + this.#minIntervalMs - performance.now();
    if (wait > 0) this.#timer = setTimeout(() => this.#run(), wait);
    else this.#run();
  }

  /** Runs what is scheduled now and resolves when no run is in flight or scheduled; never rejects. */
  async settled(): Promise<void> {
    while (this.#inFlight || this.#timer) {
      if (this.#timer) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#run();
      }
      await this.#inFlight;
    }
  }

  #run(): void {
    this.#timer = undefined;
    if (this.#inFlight) {
      this.#timer = setTimeout(() => this.#run(), this.#minIntervalMs);
      return;
    }
    this.#lastSentAt = performance.now();
    this.#inFlight = this.#send()
      .then(ignore, ignore)
      .finally(() => {
        this.#inFlight = undefined;
      });
  }
}
