/**
 * Promises a publisher or subscriber started and must wait for before its `close()` resolves
 * (publishes, acks, keep-alives). A tracked promise is dropped once it settles.
 */
export class InFlight {
  readonly #promises = new Set<Promise<unknown>>();

  /** Keeps `promise` until it settles; returns it unchanged. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.#promises.add(promise);
    const forget = (): void => void this.#promises.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  /** Resolves once everything tracked so far, and anything tracked meanwhile, has settled; never rejects. */
  async settled(): Promise<void> {
    while (this.#promises.size > 0) await Promise.allSettled([...this.#promises]);
  }
}
