import { LRUCache } from 'lru-cache';
import type { Cache, CacheEntry, CacheProvider, CacheStats } from './cache.js';
import { CACHE_FLOORS_PER_ENTRY, checkCacheName, checkVersion, watchCacheMetrics, type ResolvedCacheConfig } from './config.js';

/**
 * The embedded default: each cache is two LRU maps in this process (`lru-cache`), one of
 * entries (at most `maxEntries`, each living `entryTtlMs`) and one of floors (ten times as many,
 * each living `floorTtlMs` after its last raise). Values are kept by reference: treat what
 * `get` returns as immutable. Only this process sees the cache, so a service running as
 * several processes needs the Redis cache for its invalidations to reach every instance.
 */
class InProcessCache<T> implements Cache<T> {
  readonly name: string;
  readonly #entries: LRUCache<string, CacheEntry<T>>;
  readonly #floors: LRUCache<string, number>;
  #hits = 0;
  #misses = 0;
  #invalidations = 0;
  #refusedFills = 0;

  constructor(name: string, config: ResolvedCacheConfig) {
    this.name = name;
    this.#entries = new LRUCache<string, CacheEntry<T>>({ max: config.maxEntries, ...(config.entryTtlMs > 0 ? { ttl: config.entryTtlMs } : {}) });
    this.#floors = new LRUCache<string, number>({ max: config.maxEntries * CACHE_FLOORS_PER_ENTRY, ttl: config.floorTtlMs });
  }

  async get(key: string): Promise<CacheEntry<T> | undefined> {
    const entry = this.#entries.get(key);
    if (entry) this.#hits += 1;
    else this.#misses += 1;
    return entry;
  }

  async fill(key: string, value: T, version: number): Promise<boolean> {
    checkVersion(this.name, version);
    const floor = this.#floors.get(key);
    const current = this.#entries.peek(key);
    // the floor refuses what an invalidation replaced; the entry, what a newer fill replaced (if the floor was evicted)
    if ((floor !== undefined && version < floor) || (current !== undefined && version < current.version)) {
      this.#refusedFills += 1;
      return false;
    }
    this.#entries.set(key, { value, version });
    this.#floors.set(key, version);
    return true;
  }

  async invalidate(key: string, version?: number): Promise<void> {
    this.#invalidations += 1;
    if (version === undefined) {
      this.#entries.delete(key);
      return;
    }
    checkVersion(this.name, version);
    const entry = this.#entries.peek(key);
    if (entry && entry.version < version) this.#entries.delete(key);
    const floor = this.#floors.get(key);
    this.#floors.set(key, floor === undefined ? version : Math.max(floor, version));
  }

  stats(): CacheStats {
    return { hits: this.#hits, misses: this.#misses, invalidations: this.#invalidations, refusedFills: this.#refusedFills };
  }
}

/** In-process LRU caches, one per `<service>:<name>`. */
export class InProcessCacheProvider implements CacheProvider {
  readonly kind = 'inprocess' as const;
  readonly #config: ResolvedCacheConfig;
  readonly #caches = new Map<string, InProcessCache<unknown>>();
  readonly #unwatch: (() => void)[] = [];

  constructor(config: ResolvedCacheConfig) {
    this.#config = config;
  }

  open<T>(service: string, name: string): Cache<T> {
    checkCacheName(service, name);
    const full = `${service}:${name}`;
    let cache = this.#caches.get(full);
    if (!cache) {
      cache = new InProcessCache<unknown>(full, this.#config);
      this.#caches.set(full, cache);
      this.#unwatch.push(watchCacheMetrics(this.#config, service, name, cache));
    }
    return cache as Cache<T>;
  }

  async close(): Promise<void> {
    // nothing else to release: the maps go with the process
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
  }
}
