/**
 * A resettable wake-up: `wait` ends at its timeout or at the first `wake` since the last `clear`.
 * A wake that comes while nothing waits is kept for the next `wait` (a NOTIFY that arrives
 * while a read runs must make the reader read again rather than sleep).
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  wake(): void {
    this.#pending = true;
    this.#resolve?.();
  }

  clear(): void {
    this.#pending = false;
  }

  /** Resolves true when woken, false at the timeout. */
  wait(ms: number): Promise<boolean> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#resolve = undefined;
        resolve(false);
      }, ms);
      this.#resolve = () => {
        clearTimeout(timer);
        this.#resolve = undefined;
        this.#pending = false;
        resolve(true);
      };
    });
  }
}
