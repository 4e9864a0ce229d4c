import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { createCacheProvider, DEFAULT_CACHE_DB_NUMBERS, type CacheProvider, type RedisCacheProvider } from 'datasync/cache';
import { REDIS_URL, describeWithServers, uniqueName } from '../support/servers.js';

// The Redis cache against the real Redis. Every key of this file starts with its own namespace
// (other tests share that Redis), and only those keys are deleted at the end. Two providers
// stand for two processes: each has its own connections and scripts, and only Redis is shared.

describeWithServers(['redis'], 'Redis cache (versioned, shared between processes)', () => {
  const namespace = `${uniqueName('cachetest')}:`;
  const providers: CacheProvider[] = [];
  const open = (config: Parameters<typeof createCacheProvider>[0] = {}): CacheProvider => {
    const provider = createCacheProvider({ redisUrl: REDIS_URL, namespace, ...config });
    providers.push(provider);
    return provider;
  };

  afterAll(async () => {
    for (const provider of providers) await provider.close();
    for (const db of new Set(Object.values(DEFAULT_CACHE_DB_NUMBERS))) {
      const redis = new Redis(REDIS_URL, { db });
      const keys = await redis.keys(`${namespace}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  });

  it('stores entries under <service>:<name>: in the service\'s own DB', async () => {
    const provider = open();
    expect(provider.kind).toBe('redis');
    await provider.open<{ sku: string }>('gateway', 'product-view').fill('p1', { sku: 'KET-1' }, 4);
    await provider.open<{ sku: string }>('search', 'product-view').fill('p1', { sku: 'KET-1' }, 9);
    await provider.open<{ sku: string }>('analytics', 'report').fill('p1', { sku: 'KET-1' }, 1);
    const keysIn = async (db: number): Promise<string[]> => {
      const redis = new Redis(REDIS_URL, { db });
      try {
        return (await redis.keys(`${namespace}*`)).sort();
      } finally {
        await redis.quit();
      }
    };
    expect(await keysIn(1)).toEqual([`${namespace}gateway:product-view:{p1}`, `${namespace}gateway:product-view:{p1}:floor`]);
    expect(await keysIn(2)).toEqual([`${namespace}search:product-view:{p1}`, `${namespace}search:product-view:{p1}:floor`]);
    expect(await keysIn(6)).toEqual([`${namespace}analytics:report:{p1}`, `${namespace}analytics:report:{p1}:floor`]);
    expect((provider as RedisCacheProvider).dbOf('pricing')).toBe(4);
    const custom = open({ dbNumbers: { pricing: 9, '*': 8 } }) as RedisCacheProvider;
    expect([custom.dbOf('pricing'), custom.dbOf('review'), custom.dbOf('gateway')]).toEqual([9, 8, 1]);
  });

  it('gives back what was filled, with its version, and counts hits and misses', async () => {
    const cache = open().open<{ price: { amount: string } }>('gateway', 'product-view');
    expect(await cache.get('p2')).toBeUndefined();
    expect(await cache.fill('p2', { price: { amount: '19.99' } }, 1_732_500_000_123)).toBe(true);
    expect(await cache.get('p2')).toEqual({ value: { price: { amount: '19.99' } }, version: 1_732_500_000_123 });
    expect(cache.stats()).toEqual({ hits: 1, misses: 1, invalidations: 0, refusedFills: 0 });
  });

  it('sees another process\'s invalidation, and holds the floor across processes', async () => {
    const a = open().open<string>('gateway', 'product-view');
    const b = open().open<string>('gateway', 'product-view');
    expect(await a.fill('p3', 'v1', 1)).toBe(true);
    expect(await b.get('p3')).toEqual({ value: 'v1', version: 1 });
    await b.invalidate('p3', 2); // process B applied version 2
    expect(await a.get('p3')).toBeUndefined();
    // process A's slow read of version 1 comes back after the invalidation: refused
    expect(await a.fill('p3', 'v1', 1)).toBe(false);
    expect(a.stats().refusedFills).toBe(1);
    expect(await b.get('p3')).toBeUndefined();
    expect(await a.fill('p3', 'v2', 2)).toBe(true);
    expect(await b.get('p3')).toEqual({ value: 'v2', version: 2 });
    // a fill raises the floor too: B's older value cannot replace A's newer one
    expect(await a.fill('p3', 'v5', 5)).toBe(true);
    expect(await b.fill('p3', 'v4', 4)).toBe(false);
    // a late invalidation of an older version keeps the newer entry
    await b.invalidate('p3', 3);
    expect(await a.get('p3')).toEqual({ value: 'v5', version: 5 });
    // without a version: dropped, floor unchanged
    await b.invalidate('p3');
    expect(await a.get('p3')).toBeUndefined();
    expect(await a.fill('p3', 'v4', 4)).toBe(false);
  });

  it('keeps the floor under concurrent fills and invalidations from two processes', async () => {
    const a = open().open<number>('search', 'product-view');
    const b = open().open<number>('search', 'product-view');
    const versions = Array.from({ length: 200 }, (_, i) => i + 1);
    await Promise.all(versions.flatMap((version) => [
      (version % 2 ? a : b).fill('p4', version, version),
      (version % 2 ? b : a).invalidate('p4', version),
    ]));
    // whatever the interleaving, nothing older than the newest version is there or can be filled
    const entry = await a.get('p4');
    if (entry) expect(entry.version).toBe(200);
    expect(await b.fill('p4', 199, 199)).toBe(false);
    expect(await b.fill('p4', 200, 200)).toBe(true);
  });

  it('expires entries after entryTtlMs and floors after floorTtlMs', async () => {
    const cache = open({ entryTtlMs: 100, floorTtlMs: 300 }).open<string>('gateway', 'product-view');
    await cache.fill('p5', 'v3', 3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await cache.get('p5')).toBeUndefined();
    expect(await cache.fill('p5', 'v2', 2)).toBe(false); // the floor is still there
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await cache.fill('p5', 'v2', 2)).toBe(true); // the floor expired
  });

  it('fails a command (not hang) when Redis does not answer, and closes idempotently', async () => {
    const provider = createCacheProvider({ redisUrl: 'redis://127.0.0.1:1', namespace });
    const cache = provider.open<string>('gateway', 'product-view');
    await expect(cache.get('p6')).rejects.toThrow();
    await Promise.all([provider.close(), provider.close()]);
    expect(() => provider.open('gateway', 'other')).toThrow(/closed/);
  });
});
