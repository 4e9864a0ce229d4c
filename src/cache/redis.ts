import { createRequire } from 'node:module';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { SyncError } from '../core/errors.js';
import type { Cache, CacheEntry, CacheProvider, CacheStats } from './cache.js';
import { checkCacheName, checkVersion, watchCacheMetrics, type ResolvedCacheConfig } from './config.js';

/**
 * Caches in Redis, shared by every process of a service. Each service has its own DB number
 * (config `dbNumbers`) with one connection per DB, and every key of cache `name` starts with
 * `<namespace><service>:<name>:`. One cache key is two Redis keys with the same hash tag:
 *
 *   <prefix>{<key>}        hash {v: version, d: JSON value}, expires after `entryTtlMs` (if > 0)
 *   <prefix>{<key>}:floor  the highest version seen, expires `floorTtlMs` after its last raise
 *
 * Fill and invalidate are Lua scripts, so the floor check and the write are one atomic step
 * whichever process runs them: a floor raised by one process refuses an older fill of another.
 */

/** KEYS: entry, floor. ARGV: version, JSON value, entry TTL ms (0 = none), floor TTL ms. Returns 1 stored, 0 refused. */
const FILL = `
local v = tonumber(ARGV[1])
local floor = redis.call('GET', KEYS[2])
if floor and v < tonumber(floor) then return 0 end
local current = redis.call('HGET', KEYS[1], 'v')
if current and v < tonumber(current) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) else redis.call('PERSIST', KEYS[1]) end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
return 1`;

/**
 * KEYS: entry, floor. ARGV: version ('' = none), floor TTL ms. Drops the entry unless it was
 * built from `version` or newer; raises the floor to max(floor, version). Returns 1 if dropped.
 */
const INVALIDATE = `
if ARGV[1] == '' then return redis.call('DEL', KEYS[1]) end
local v = tonumber(ARGV[1])
local dropped = 0
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) < v then dropped = redis.call('DEL', KEYS[1]) end
local floor = redis.call('GET', KEYS[2])
if (not floor) or tonumber(floor) < v then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) else redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return dropped`;

/** The client with the scripts defined on it (ioredis `defineCommand`: EVALSHA, loading the script when Redis lacks it). */
interface ScriptedRedis extends RedisClient {
  datasyncCacheFill(entry: string, floor: string, version: string, value: string, entryTtlMs: string, floorTtlMs: string): Promise<number>;
  datasyncCacheInvalidate(entry: string, floor: string, version: string, floorTtlMs: string): Promise<number>;
}

type RedisConstructor = new (url: string, options: RedisOptions) => RedisClient;

/** Loads ioredis (an optional peer dependency) now; names the install line when it is missing. */
function loadRedis(): RedisConstructor {
  try {
    const module = createRequire(import.meta.url)('ioredis') as { Redis?: RedisConstructor; default?: RedisConstructor };
    return (module.Redis ?? module.default)!;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new SyncError('CONFIGURATION_INVALID', 'the Redis cache (REDIS_URL) needs the optional package ioredis: npm install ioredis', { cause: error, permanent: true });
    }
    throw error;
  }
}

/** How long one cache command may take before it fails (a cache that hangs must not hang the request). */
const COMMAND_TIMEOUT_MS = 2_000;

class RedisCache<T> implements Cache<T> {
  readonly name: string;
  readonly #redis: ScriptedRedis;
  readonly #prefix: string;
  readonly #config: ResolvedCacheConfig;
  #hits = 0;
  #misses = 0;
  #invalidations = 0;
  #refusedFills = 0;

  constructor(name: string, redis: ScriptedRedis, config: ResolvedCacheConfig) {
    this.name = name;
    this.#redis = redis;
    this.#prefix = `${config.namespace}${name}:`;
    this.#config = config;
  }

  #keys(key: string): [string, string] {
    const entry = `${this.#prefix}{${key}}`;
    return [entry, `${entry}:floor`];
  }

  async get(key: string): Promise<CacheEntry<T> | undefined> {
    const [version, data] = await this.#redis.hmget(this.#keys(key)[0], 'v', 'd');
    if (version == null || data == null) {
      this.#misses += 1;
      return undefined;
    }
    this.#hits += 1;
    return { value: JSON.parse(data) as T, version: Number(version) };
  }

  async fill(key: string, value: T, version: number): Promise<boolean> {
    checkVersion(this.name, version);
    const [entry, floor] = this.#keys(key);
    const stored = await this.#redis.datasyncCacheFill(
      entry, floor, String(version), JSON.stringify(value), String(this.#config.entryTtlMs), String(this.#config.floorTtlMs),
    );
    if (stored !== 1) this.#refusedFills += 1;
    return stored === 1;
  }

  async invalidate(key: string, version?: number): Promise<void> {
    if (version !== undefined) checkVersion(this.name, version);
    const [entry, floor] = this.#keys(key);
    await this.#redis.datasyncCacheInvalidate(entry, floor, version === undefined ? '' : String(version), String(this.#config.floorTtlMs));
    this.#invalidations += 1;
  }

  stats(): CacheStats {
    return { hits: this.#hits, misses: this.#misses, invalidations: this.#invalidations, refusedFills: this.#refusedFills };
  }
}

/** Redis caches: one connection per DB number, opened at the first cache of a service using it. */
export class RedisCacheProvider implements CacheProvider {
  readonly kind = 'redis' as const;
  readonly #config: ResolvedCacheConfig & { readonly redisUrl: string };
  readonly #Redis: RedisConstructor;
  readonly #connections = new Map<number, ScriptedRedis>();
  readonly #caches = new Map<string, RedisCache<unknown>>();
  readonly #unwatch: (() => void)[] = [];
  #closed: Promise<void> | undefined;

  constructor(config: ResolvedCacheConfig & { readonly redisUrl: string }) {
    this.#config = config;
    this.#Redis = loadRedis();
  }

  /** The Redis DB number `service`'s caches use. */
  dbOf(service: string): number {
    return this.#config.dbNumbers[service] ?? this.#config.dbNumbers['*']!;
  }

  #connection(db: number): ScriptedRedis {
    let redis = this.#connections.get(db);
    if (!redis) {
      redis = new this.#Redis(this.#config.redisUrl, {
        db, maxRetriesPerRequest: 1, commandTimeout: COMMAND_TIMEOUT_MS, connectTimeout: COMMAND_TIMEOUT_MS,
      }) as ScriptedRedis;
      // Connection errors reach the caller of each command; ioredis reconnects on its own.
      redis.on('error', () => undefined);
      redis.defineCommand('datasyncCacheFill', { numberOfKeys: 2, lua: FILL });
      redis.defineCommand('datasyncCacheInvalidate', { numberOfKeys: 2, lua: INVALIDATE });
      this.#connections.set(db, redis);
    }
    return redis;
  }

  open<T>(service: string, name: string): Cache<T> {
    if (this.#closed) throw new SyncError('CONFIGURATION_INVALID', `cache ${service}:${name} opened after the cache provider was closed`);
    checkCacheName(service, name);
    const full = `${service}:${name}`;
    let cache = this.#caches.get(full);
    if (!cache) {
      cache = new RedisCache<unknown>(full, this.#connection(this.dbOf(service)), this.#config);
      this.#caches.set(full, cache);
      this.#unwatch.push(watchCacheMetrics(this.#config, service, name, cache));
    }
    return cache as Cache<T>;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const unwatch of this.#unwatch.splice(0)) unwatch();
      await Promise.all([...this.#connections.values()].map((redis) => redis.quit().catch(() => redis.disconnect())));
    })();
    return this.#closed;
  }
}
