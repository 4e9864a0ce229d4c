import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ConfigurationError } from 'datasync/core';
import { createCacheProvider, readThrough, type CacheEntry } from 'datasync/cache';

describe('in-process cache (LRU)', () => {
  it('is chosen without a Redis URL and gives the same cache for the same service and name', () => {
    const provider = createCacheProvider();
    expect(provider.kind).toBe('inprocess');
    expect(provider.open('gateway', 'product-view')).toBe(provider.open('gateway', 'product-view'));
    expect(provider.open('gateway', 'product-view')).not.toBe(provider.open('search', 'product-view'));
    expect(provider.open('search', 'product-view').name).toBe('search:product-view');
  });

  it('counts hits and misses, and keeps the version an entry was built from', async () => {
    const cache = createCacheProvider().open<{ name: string }>('search', 'product-view');
    expect(await cache.get('p1')).toBeUndefined();
    expect(await cache.fill('p1', { name: 'Kettle' }, 3)).toBe(true);
    expect(await cache.get('p1')).toEqual({ value: { name: 'Kettle' }, version: 3 });
    expect(cache.stats()).toEqual({ hits: 1, misses: 1, invalidations: 0, refusedFills: 0 });
  });

  it('refuses a fill older than an invalidation (the floor), and takes the invalidated version and newer', async () => {
    const cache = createCacheProvider().open<string>('gateway', 'product-view');
    await cache.fill('p1', 'v1', 1);
    // a reader loads version 1 slowly; meanwhile version 2 is applied and invalidates
    await cache.invalidate('p1', 2);
    expect(await cache.get('p1')).toBeUndefined();
    expect(await cache.fill('p1', 'v1 again', 1)).toBe(false);
    expect(await cache.get('p1')).toBeUndefined();
    expect(await cache.fill('p1', 'v2', 2)).toBe(true);
    expect(await cache.fill('p1', 'v3', 3)).toBe(true);
    expect(await cache.get('p1')).toEqual({ value: 'v3', version: 3 });
    expect(cache.stats()).toMatchObject({ invalidations: 1, refusedFills: 1 });
  });

  it('raises the floor on every fill, so an older value never replaces a newer one', async () => {
    const cache = createCacheProvider().open<string>('gateway', 'product-view');
    expect(await cache.fill('p1', 'v5', 5)).toBe(true);
    expect(await cache.fill('p1', 'v4', 4)).toBe(false);
    expect(await cache.get('p1')).toEqual({ value: 'v5', version: 5 });
  });

  it('keeps an entry built from the invalidated version or newer (a late or repeated invalidation)', async () => {
    const cache = createCacheProvider().open<string>('gateway', 'product-view');
    await cache.fill('p1', 'v7', 7);
    await cache.invalidate('p1', 6);
    await cache.invalidate('p1', 7);
    expect(await cache.get('p1')).toEqual({ value: 'v7', version: 7 });
    await cache.invalidate('p1', 8);
    expect(await cache.get('p1')).toBeUndefined();
    // the floor never goes down
    await cache.invalidate('p1', 2);
    expect(await cache.fill('p1', 'v7', 7)).toBe(false);
  });

  it('drops the entry without a version and leaves the floor as it was', async () => {
    const cache = createCacheProvider().open<string>('gateway', 'product-view');
    await cache.fill('p1', 'v4', 4);
    await cache.invalidate('p1');
    expect(await cache.get('p1')).toBeUndefined();
    expect(await cache.fill('p1', 'v3', 3)).toBe(false);
    expect(await cache.fill('p1', 'v4', 4)).toBe(true);
  });

  it('evicts the least recently used entry past maxEntries, but keeps its floor', async () => {
    const cache = createCacheProvider({ maxEntries: 2 }).open<string>('search', 'product-view');
    await cache.fill('a', 'a1', 1);
    await cache.fill('b', 'b1', 1);
    await cache.get('a'); // a is now the most recently used
    await cache.fill('c', 'c1', 1);
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('a')).toEqual({ value: 'a1', version: 1 });
    expect(await cache.get('c')).toEqual({ value: 'c1', version: 1 });
    // b's floor outlives its entry: an older b is still refused
    await cache.invalidate('b', 5);
    await cache.fill('d', 'd1', 1);
    await cache.fill('e', 'e1', 1);
    expect(await cache.fill('b', 'b4', 4)).toBe(false);
  });

  it('lets entries expire after entryTtlMs (the fallback for a lost invalidation)', async () => {
    const cache = createCacheProvider({ entryTtlMs: 30 }).open<string>('search', 'product-view');
    await cache.fill('p1', 'v1', 1);
    expect(await cache.get('p1')).toBeDefined();
    await delay(80);
    expect(await cache.get('p1')).toBeUndefined();
  });

  it('refuses bad configuration and names, naming the field', () => {
    expect(() => createCacheProvider({ maxEntries: 0 })).toThrow(/cache\.maxEntries/);
    expect(() => createCacheProvider({ redisUrl: 'http://localhost' })).toThrow(ConfigurationError);
    expect(() => createCacheProvider({ dbNumbers: { gateway: -1 } })).toThrow(/cache\.dbNumbers\.gateway/);
    expect(() => createCacheProvider({ namespace: 'a{b}' })).toThrow(/cache\.namespace/);
    expect(() => createCacheProvider().open('Gateway', 'product-view')).toThrow(/cache service/);
    expect(() => createCacheProvider().open('gateway', 'product view')).toThrow(/cache name/);
  });

  it('refuses a version that is not a safe integer', async () => {
    const cache = createCacheProvider().open<string>('search', 'product-view');
    await expect(cache.fill('p1', 'x', 1.5)).rejects.toThrow(/safe integer/);
    await expect(cache.invalidate('p1', -1)).rejects.toThrow(/safe integer/);
  });
});

describe('readThrough', () => {
  it('loads and fills on a miss, serves a hit, and caches nothing for an absent entity', async () => {
    const cache = createCacheProvider().open<string>('search', 'product-view');
    let loads = 0;
    const load = async (): Promise<CacheEntry<string>> => { loads += 1; return { value: 'v1', version: 1 }; };
    expect(await readThrough(cache, 'p1', load)).toEqual({ entry: { value: 'v1', version: 1 }, cache: 'miss', current: true });
    expect(await readThrough(cache, 'p1', load)).toEqual({ entry: { value: 'v1', version: 1 }, cache: 'hit', current: true });
    expect(loads).toBe(1);
    expect(await readThrough(cache, 'p2', async () => undefined)).toBeUndefined();
    expect(await cache.get('p2')).toBeUndefined();
  });

  it('reads the source again when its load is older than a version the cache has seen', async () => {
    const cache = createCacheProvider().open<string>('gateway', 'product-view');
    await cache.invalidate('p1', 2);
    const answers = [{ value: 'v1', version: 1 }, { value: 'v2', version: 2 }];
    const result = await readThrough(cache, 'p1', async () => answers.shift());
    expect(result).toEqual({ entry: { value: 'v2', version: 2 }, cache: 'miss', current: true });
  });

  it('says so when the source stays behind the floor', async () => {
    const cache = createCacheProvider().open<string>('gateway', 'product-view');
    await cache.invalidate('p1', 9);
    let loads = 0;
    const result = await readThrough(cache, 'p1', async () => { loads += 1; return { value: 'v1', version: 1 }; }, { attempts: 2 });
    expect(result).toEqual({ entry: { value: 'v1', version: 1 }, cache: 'miss', current: false });
    expect(loads).toBe(2);
  });

  it('bypasses a failing cache and reports it', async () => {
    const errors: unknown[] = [];
    const broken = {
      name: 'gateway:broken',
      get: async () => { throw new Error('cache down'); },
      fill: async () => { throw new Error('cache down'); },
      invalidate: async () => undefined,
      stats: () => ({ hits: 0, misses: 0, invalidations: 0, refusedFills: 0 }),
    };
    const result = await readThrough(broken, 'p1', async () => ({ value: 'v1', version: 1 }), { onError: (error) => errors.push(error) });
    expect(result).toEqual({ entry: { value: 'v1', version: 1 }, cache: 'miss', current: true });
    expect(errors).toHaveLength(2);
  });
});
