import type { Producer } from 'datasync/runtime';
import { pageViewed, type PageViewed } from '../../contracts/storefront.js';

/**
 * The product pages the Gateway served, published as storefront.page.viewed through the
 * Gateway's outbox. Views are queued and written in batches (one transaction per batch, one
 * outbox row per view), off the request's path: a page view is a lossy fact by contract
 * (storefront.ts), so a failed batch is reported and dropped rather than slowing the storefront,
 * and the queue is bounded.
 */

/** Longest a view waits in the queue before its batch is written. */
const FLUSH_MS = 100;
/** Views per transaction, at most. */
const BATCH_MAX = 500;
/** Views queued at most; past it the oldest are dropped (the database is not keeping up). */
const QUEUE_MAX = 20_000;

/** Queues page views and writes them to the outbox in batches. */
export class PageViewLog {
  readonly #producer: Producer;
  readonly #onError: (error: unknown) => void;
  #queue: PageViewed[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #dropped = 0;

  constructor(producer: Producer, onError: (error: unknown) => void) {
    this.#producer = producer;
    this.#onError = onError;
  }

  /** Views dropped because the queue was full or a batch failed. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues one view; it is in the outbox within about {@link FLUSH_MS}. A view the schema refuses is reported and dropped. */
  record(view: PageViewed): void {
    try {
      pageViewed.validate(view);
    } catch (error) {
      this.#dropped += 1;
      this.#onError(error);
      return;
    }
    this.#queue.push(view);
    if (this.#queue.length > QUEUE_MAX) {
      this.#queue.shift();
      this.#dropped += 1;
    }
    if (this.#queue.length >= BATCH_MAX) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes what is queued; resolves when it is in the outbox (or reported as failed). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flushing = this.#flushing.then(async () => {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, BATCH_MAX);
        try {
          await this.#producer.transaction(async (tx) => {
            for (const view of batch) await tx.publish(pageViewed, view);
          });
        } catch (error) {
          this.#dropped += batch.length;
          this.#onError(error);
        }
      }
    });
    return this.#flushing;
  }
}
