import { ConfigurationError } from '../core/errors.js';
import { SyncMetrics, type CountedCache } from '../observability/sync-metrics.js';

/** Configuration of {@link createCacheProvider} (./index.ts). */
export interface CacheConfig {
  /** Redis URL (`REDIS_URL`): caches in Redis. Absent: in-process LRU caches. */
  readonly redisUrl?: string;
  /** In-process: entries per cache, at most (least recently used go first). Default {@link DEFAULT_CACHE_MAX_ENTRIES}. */
  readonly maxEntries?: number;
  /**
   * Redis: the DB number per service, over {@link DEFAULT_CACHE_DB_NUMBERS}; the key `*` sets
   * the DB of services not named. Each DB gets one connection.
   */
  readonly dbNumbers?: Readonly<Record<string, number>>;
  /**
   * Time to live of an entry, ms: the fallback for an invalidation that never arrives. 0 = no
   * expiry. Default {@link DEFAULT_CACHE_ENTRY_TTL_MS} (1 h).
   */
  readonly entryTtlMs?: number;
  /**
   * How long a key's floor (the highest version seen) is kept after it was last raised, ms.
   * It must outlast any read that could still fill an older version. Default
   * {@link DEFAULT_CACHE_FLOOR_TTL_MS} (24 h).
   */
  readonly floorTtlMs?: number;
  /** Redis: prepended to every key, e.g. to share one Redis between platforms or tests. Default ''. */
  readonly namespace?: string;
  /**
   * Where each cache's hits, misses and invalidations are reported (`datasync_cache_*_total{cache="<service>/<name>"}`).
   * Default datasync's registry (`SyncMetrics.for()`); false for none.
   */
  readonly metrics?: SyncMetrics | false;
}

/** Entries per in-process cache. */
export const DEFAULT_CACHE_MAX_ENTRIES = 10_000;
/** An entry's time to live: 1 h. */
export const DEFAULT_CACHE_ENTRY_TTL_MS = 60 * 60 * 1_000;
/** A floor's time to live after its last raise: 24 h. */
export const DEFAULT_CACHE_FLOOR_TTL_MS = 24 * 60 * 60 * 1_000;
/** In-process floors kept per cache, as a multiple of `maxEntries` (a floor is one number; it must outlive its entry). */
export const CACHE_FLOORS_PER_ENTRY = 10;

/**
 * Redis DB numbers of the services whose caches are busiest (the storefront's read path), so
 * one service's keys can be inspected, sized or flushed alone; `*` is every other service's.
 */
export const DEFAULT_CACHE_DB_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  gateway: 1, search: 2, catalog: 3, pricing: 4, warehouse: 5, '*': 6,
});

/** The configuration with every default filled in. */
export type ResolvedCacheConfig = Required<Omit<CacheConfig, 'redisUrl' | 'metrics'>> & { readonly redisUrl: string | undefined; readonly metrics: SyncMetrics | undefined };

const NAMESPACE = /^[A-Za-z0-9_:.-]*$/;

/** Fills in defaults and checks every field; throws a ConfigurationError naming the first bad one. */
export function resolveCacheConfig(config: CacheConfig = {}): ResolvedCacheConfig {
  const resolved: ResolvedCacheConfig = {
    redisUrl: config.redisUrl === '' ? undefined : config.redisUrl,
    maxEntries: config.maxEntries ?? DEFAULT_CACHE_MAX_ENTRIES,
    dbNumbers: { ...DEFAULT_CACHE_DB_NUMBERS, ...config.dbNumbers },
    entryTtlMs: config.entryTtlMs ?? DEFAULT_CACHE_ENTRY_TTL_MS,
    floorTtlMs: config.floorTtlMs ?? DEFAULT_CACHE_FLOOR_TTL_MS,
    namespace: config.namespace ?? '',
    metrics: config.metrics === false ? undefined : (config.metrics ?? SyncMetrics.for()),
  };
  if (resolved.redisUrl !== undefined && !/^rediss?:\/\//.test(resolved.redisUrl)) {
    throw new ConfigurationError('cache.redisUrl', resolved.redisUrl, 'a redis:// or rediss:// URL');
  }
  // ioredis lets a database in the URL override the per-service one, which would put every service in one DB
  if (resolved.redisUrl !== undefined && /^rediss?:\/\/[^/]*\/\d+/.test(resolved.redisUrl)) {
    throw new ConfigurationError('cache.redisUrl', resolved.redisUrl.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@'), 'a Redis URL without a database number: each service uses its own DB (dbNumbers)');
  }
  if (!Number.isSafeInteger(resolved.maxEntries) || resolved.maxEntries < 1) throw new ConfigurationError('cache.maxEntries', resolved.maxEntries, 'a positive integer');
  for (const [service, db] of Object.entries(resolved.dbNumbers)) {
    if (!Number.isSafeInteger(db) || db < 0) throw new ConfigurationError(`cache.dbNumbers.${service}`, db, 'a Redis DB number (an integer from 0)');
  }
  if (!Number.isSafeInteger(resolved.entryTtlMs) || resolved.entryTtlMs < 0) throw new ConfigurationError('cache.entryTtlMs', resolved.entryTtlMs, 'milliseconds from 0 (0 = no expiry)');
  if (!Number.isSafeInteger(resolved.floorTtlMs) || resolved.floorTtlMs < 1) throw new ConfigurationError('cache.floorTtlMs', resolved.floorTtlMs, 'a positive number of milliseconds');
  if (!NAMESPACE.test(resolved.namespace)) throw new ConfigurationError('cache.namespace', resolved.namespace, "letters, digits and _ : . - (no braces: they make Redis hash tags)");
  return resolved;
}

const CACHE_NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const SERVICE_NAME = /^[a-z][a-z0-9_]{0,40}$/;

/** Checks a service and cache name (they form the key prefix `<service>:<name>:`). */
export function checkCacheName(service: string, name: string): void {
  if (!SERVICE_NAME.test(service)) throw new ConfigurationError('cache service', service, 'a service name (lower case letters, digits and _)');
  if (!CACHE_NAME.test(name)) throw new ConfigurationError(`cache name of ${service}`, name, 'lower case letters, digits, _ and -, e.g. product-view');
}

/** Reports `cache`'s counters as `<service>/<name>` (see {@link CacheConfig.metrics}); returns what stops it. */
export function watchCacheMetrics(config: ResolvedCacheConfig, service: string, name: string, cache: CountedCache): () => void {
  return config.metrics?.watchCache(`${service}/${name}`, cache) ?? (() => undefined);
}

/** Checks a version given to fill or invalidate. */
export function checkVersion(cache: string, version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) throw new TypeError(`${cache}: a cache version must be a safe integer from 0, got ${String(version)}`);
}
