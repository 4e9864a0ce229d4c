/**
 * Caches of the platform's services (DESIGN.md section 2, `cache/`): versioned read-through
 * caches whose entries events drop (./cache.ts), in-process or in Redis.
 */
import type { CacheProvider } from './cache.js';
import { resolveCacheConfig, type CacheConfig } from './config.js';
import { InProcessCacheProvider } from './in-process.js';
import { RedisCacheProvider } from './redis.js';

export * from './cache.js';
export {
  CACHE_FLOORS_PER_ENTRY, DEFAULT_CACHE_DB_NUMBERS, DEFAULT_CACHE_ENTRY_TTL_MS, DEFAULT_CACHE_FLOOR_TTL_MS, DEFAULT_CACHE_MAX_ENTRIES,
  type CacheConfig,
} from './config.js';
export { readThrough, type ReadThroughOptions, type ReadThroughResult } from './read-through.js';
export { RedisCacheProvider } from './redis.js';
export { InProcessCacheProvider } from './in-process.js';

/**
 * The caches of one process: in Redis when `redisUrl` is given (ioredis, an optional peer
 * dependency, is loaded now; a missing one names its `npm install` line), else in-process LRU
 * caches. Connections open lazily, at the first cache of a service. Throws a
 * ConfigurationError naming the first bad field of `config`.
 */
export function createCacheProvider(config: CacheConfig = {}): CacheProvider {
  const resolved = resolveCacheConfig(config);
  if (resolved.redisUrl === undefined) return new InProcessCacheProvider(resolved);
  return new RedisCacheProvider({ ...resolved, redisUrl: resolved.redisUrl });
}
