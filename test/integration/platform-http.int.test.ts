import { expect, it } from 'vitest';
import { usePlatformProcess, type ApiReply } from '../support/platform-process.js';
import { describeWithServers, uniqueName, waitFor } from '../support/servers.js';

// Catalog and Search hard-code their schemas (`catalog`, `search`), so the platform runs as
// `platform/main.ts` in a child process on a database of its own, created for this file on the
// test PostgreSQL and dropped after it; postgres transport, free port, no demo workload.

interface ProductBody { id: string; sku: string; name: string; description: string | null; version: number }
interface SearchBody { results: { id: string; sku: string; name: string; version: number }[] }
interface ErrorBody { error: { code: string; message: string; field?: string } }

describeWithServers(['postgres'], 'the platform HTTP API (platform/main.ts --port 0 --no-workload)', () => {
  const platform = usePlatformProcess('platform_http');
  const call = <T = ErrorBody>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiReply<T>> => platform.call<T>(method, path, body, raw);

  const search = async (q: string): Promise<SearchBody['results']> => {
    const reply = await call<SearchBody>('GET', `/search?q=${encodeURIComponent(q)}`);
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    return reply.body.results;
  };

  it('creates a product, finds it, renames it, finds the new name, deletes it and no longer finds it', async () => {
    const sku = `KET-${uniqueName('x').slice(2).toUpperCase()}`;
    const word = uniqueName('kettle'); // a word no other product has
    const created = await call<ProductBody>('POST', '/catalog/products', { sku, name: `Copper ${word}`, description: 'Boils water.' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ sku, name: `Copper ${word}`, description: 'Boils water.', version: 1 });
    expect(created.body.id).toEqual(expect.any(String));
    const id = created.body.id;

    await waitFor('the new product in search', async () => (await search(word)).some((hit) => hit.id === id), 15_000);
    expect(await search(word)).toEqual([{ id, sku, name: `Copper ${word}`, version: 1 }]);
    expect((await search(sku)).map((hit) => hit.id)).toContain(id);

    const renamed = `Walnut ${uniqueName('teapot')}`;
    const updated = await call<ProductBody>('PUT', `/catalog/products/${id}`, { name: renamed });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body).toMatchObject({ id, sku, name: renamed, description: 'Boils water.', version: 2 });
    await waitFor('the new name in search', async () => (await search(renamed.split(' ')[1]!)).some((hit) => hit.id === id && hit.version === 2), 15_000);
    expect(await search(word)).toEqual([]); // the old name is gone with version 2

    const deleted = await call('DELETE', `/catalog/products/${id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeUndefined();
    await waitFor('the product to leave search', async () => (await search(renamed)).length === 0, 15_000);
    expect(await call('DELETE', `/catalog/products/${id}`)).toMatchObject({ status: 404, body: { error: { code: 'PRODUCT_NOT_FOUND' } } });
  });

  it('answers bad input with a 400 naming the field', async () => {
    const cases: [string, unknown, string, string?][] = [
      ['missing sku', { name: 'Kettle' }, 'sku'],
      ['lower-case sku', { sku: 'ket-1', name: 'Kettle' }, 'sku'],
      ['sku starting with -', { sku: '-KET1', name: 'Kettle' }, 'sku'],
      ['sku not a string', { sku: 42, name: 'Kettle' }, 'sku'],
      ['empty name', { sku: 'KET-2', name: '' }, 'name'],
      ['name too long', { sku: 'KET-2', name: 'x'.repeat(201) }, 'name'],
      ['description too long', { sku: 'KET-2', name: 'Kettle', description: 'x'.repeat(5_001) }, 'description'],
      ['unknown field', { sku: 'KET-2', name: 'Kettle', colour: 'red' }, 'colour'],
      ['array body', [], 'body'],
    ];
    for (const [what, body, field] of cases) {
      const reply = await call('POST', '/catalog/products', body);
      expect(reply.status, what).toBe(400);
      expect(reply.body.error.field, what).toBe(field);
      expect(reply.body.error.message, what).toContain(field);
    }
    const notJson = await call('POST', '/catalog/products', undefined, '{"sku": "KET-2",');
    expect(notJson).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON', field: 'body' } } });
    const badUpdate = await call('PUT', '/catalog/products/anything', { name: '   ' });
    expect(badUpdate).toMatchObject({ status: 400, body: { error: { field: 'name' } } });
    expect(await call('GET', '/search')).toMatchObject({ status: 400, body: { error: { code: 'MISSING_FIELD', field: 'q' } } });
    expect(await call('GET', '/search?q=%20')).toMatchObject({ status: 400, body: { error: { field: 'q' } } });
  });

  it('answers a taken SKU with 409, and unknown ids and routes with a JSON 404', async () => {
    const sku = `DUP-${uniqueName('x').slice(2).toUpperCase()}`;
    expect((await call('POST', '/catalog/products', { sku, name: 'First' })).status).toBe(201);
    expect(await call('POST', '/catalog/products', { sku, name: 'Second' })).toMatchObject({ status: 409, body: { error: { code: 'SKU_TAKEN', field: 'sku' } } });
    expect(await call('PUT', '/catalog/products/no-such-id', { name: 'Kettle' })).toMatchObject({ status: 404, body: { error: { code: 'PRODUCT_NOT_FOUND' } } });
    expect(await call('DELETE', '/catalog/products/no-such-id')).toMatchObject({ status: 404, body: { error: { code: 'PRODUCT_NOT_FOUND' } } });
    expect(await call('GET', '/no/such/route')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(platform.output.filter((line) => line.includes('HTTP request failed'))).toEqual([]); // no 500 along the way
  });
});
