import type { Cache, CacheEntry } from './cache.js';

/** What {@link readThrough} found. */
export interface ReadThroughResult<T> {
  readonly entry: CacheEntry<T>;
  /** `hit`: from the cache; `miss`: loaded from the source (and filled, unless `current` is false). */
  readonly cache: 'hit' | 'miss';
  /**
   * False when every load was older than a version the cache had already seen (a change is
   * being applied or was just applied and the source has not caught up); the entry is then
   * the last load, older than that version.
   */
  readonly current: boolean;
}

/** Options of {@link readThrough}. */
export interface ReadThroughOptions {
  /** Loads at most, when fills are refused because a newer version was seen. Default 3. */
  readonly attempts?: number;
  /** The cache failed (e.g. Redis unreachable): the read goes to the source and this is told. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Reads `key` through `cache`: a hit is returned as it is; on a miss `load` reads the source
 * (undefined: there is nothing, and nothing is cached) and the result is filled. A refused fill
 * means the cache has seen a newer version than the load: a newer entry, if there is one now,
 * is returned instead, else the source is read again (up to `attempts` loads). A cache that
 * fails is reported to `onError` and bypassed, so the read is served from the source.
 */
export async function readThrough<T>(
  cache: Cache<T>, key: string, load: () => Promise<CacheEntry<T> | undefined>, options: ReadThroughOptions = {},
): Promise<ReadThroughResult<T> | undefined> {
  const attempts = Math.max(1, options.attempts ?? 3);
  const report = (error: unknown): void => options.onError?.(error);
  const cached = await cache.get(key).catch((error: unknown) => { report(error); return undefined; });
  if (cached) return { entry: cached, cache: 'hit', current: true };
  let loaded: CacheEntry<T> | undefined;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    loaded = await load();
    if (!loaded) return undefined;
    let stored: boolean;
    try {
      stored = await cache.fill(key, loaded.value, loaded.version);
    } catch (error) {
      report(error);
      return { entry: loaded, cache: 'miss', current: true };
    }
    if (stored) return { entry: loaded, cache: 'miss', current: true };
    const newer = await cache.get(key).catch((error: unknown) => { report(error); return undefined; });
    if (newer && newer.version >= loaded.version) return { entry: newer, cache: 'hit', current: true };
  }
  return { entry: loaded!, cache: 'miss', current: false };
}
