/**
 * A versioned read-through cache (DESIGN.md section 2, `cache/`): what a service keeps of
 * data it reads often, dropped by the events that change that data. Every entry carries the
 * version of the data it was built from, and every key remembers the highest version it has
 * seen (its floor: raised by every fill and by every invalidation that names a version), so a
 * slow reader that built its value from an older read can never put it back after the event
 * that replaced it: `fill` refuses a version below the floor.
 *
 * Versions must increase with every change of the data behind one key (an owner's entity
 * version, or a read model's own counter); they are compared per key only.
 *
 * Two implementations behind one interface: in-process LRU (the embedded default) and Redis
 * (per-service key prefix and DB number, when `REDIS_URL` is set); see ./index.ts.
 */

/** One cached value and the version of the data it was built from. */
export interface CacheEntry<T> {
  readonly value: T;
  readonly version: number;
}

/** Counters since the cache was opened (in this process). */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  /** {@link Cache.invalidate} calls (each names a key whose data changed, whether or not an entry was there). */
  readonly invalidations: number;
  /** Fills refused because a newer version had been seen (filled or named by an invalidation). */
  readonly refusedFills: number;
}

/** A named cache of one service (e.g. Gateway's `product-view`). Values must survive JSON (the Redis cache stores JSON). */
export interface Cache<T> {
  /** The service and name, e.g. `gateway:product-view`: the key prefix. */
  readonly name: string;
  /** The entry, or undefined (a miss); counts a hit or a miss. */
  get(key: string): Promise<CacheEntry<T> | undefined>;
  /**
   * Stores `value` built from data at `version` and raises the key's floor to it, unless the
   * floor is higher already (an invalidation named a newer version, or a newer value was
   * filled): then it returns false and stores nothing. A fill at the floor's version is stored.
   */
  fill(key: string, value: T, version: number): Promise<boolean>;
  /**
   * The data behind `key` changed. With `version` (the version the data has now): drops the
   * entry unless it was built from `version` or newer, and raises the floor to `version`, so
   * nothing built from an older version is stored again. Without: drops the entry, floor unchanged.
   */
  invalidate(key: string, version?: number): Promise<void>;
  stats(): CacheStats;
}

/** Opens the caches of the services of one process. */
export interface CacheProvider {
  /** `inprocess` or `redis`. */
  readonly kind: 'inprocess' | 'redis';
  /**
   * The cache `name` of `service` (key prefix `<service>:<name>:`, the service's Redis DB).
   * Opening the same name twice gives the same cache.
   */
  open<T>(service: string, name: string): Cache<T>;
  /** Closes connections. Idempotent. */
  close(): Promise<void>;
}
