import { randomBytes, randomUUID } from 'node:crypto';
import { outboxStatus } from 'datasync/postgres';
import { expect, it } from 'vitest';
import { catalogModule } from '../../platform/services/catalog/index.js';
import { DEFAULT_WAREHOUSE, locationModule } from '../../platform/services/location/index.js';
import { pricingModule } from '../../platform/services/pricing/index.js';
import { promotionModule } from '../../platform/services/promotion/index.js';
import { DEFAULT_WAREHOUSE_ID, warehouseModule } from '../../platform/services/warehouse/index.js';
import type { Location } from '../../platform/contracts/location.js';
import type { Promotion } from '../../platform/contracts/promotion.js';
import { useInProcessPlatform } from '../support/platform-harness.js';
import { describeWithServers, waitFor } from '../support/servers.js';

// The owners' HTTP APIs: Catalog, Pricing, Warehouse, Promotion and Location run in this
// process (platform/host/run.ts) on a database of their own, postgres transport, free port.
// This file covers routes, their 4xx answers, the cached reads and what each write publishes;
// platform-owners-sync.int.test.ts covers the events between the services.

interface ErrorBody { error: { code: string; message: string; field?: string } }

describeWithServers(['postgres'], 'the owners\' HTTP APIs (Catalog, Pricing, Warehouse, Promotion, Location in one process)', () => {
  const platform = useInProcessPlatform('platform_owners', () => [catalogModule, pricingModule, warehouseModule, promotionModule, locationModule]);
  const db = () => platform.db();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const call = <T = any>(method: string, path: string, body?: unknown, raw?: string) => platform.call<T>(method, path, body, raw);

  /** GET with the `x-cache` header. */
  async function cachedGet<T>(path: string): Promise<{ status: number; cache: string | null; body: T }> {
    const response = await fetch(`${platform.platform().url}${path}`);
    return { status: response.status, cache: response.headers.get('x-cache'), body: (await response.json()) as T };
  }

  /** The data of the events on `topic` in `schema`'s outbox whose `field` is `value`, oldest first. */
  async function outboxEvents(schema: string, topic: string, value: string, field = 'productId'): Promise<Record<string, unknown>[]> {
    const { rows } = await db().query<{ data: Record<string, unknown> }>(
      `SELECT envelope->'data' AS data FROM ${schema}.outbox WHERE topic = $1 AND envelope->'data'->>'${field}' = $2 ORDER BY id`,
      [topic, value],
    );
    return rows.map((row) => row.data);
  }

  async function newProduct(name = 'Kettle'): Promise<string> {
    const reply = await call<{ id: string }>('POST', '/catalog/products', { sku: `OWN-${randomBytes(4).toString('hex').toUpperCase()}`, name });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return reply.body.id;
  }

  async function expectFieldErrors(method: string, path: string, cases: [string, unknown, string][]): Promise<void> {
    for (const [what, body, field] of cases) {
      const reply = await call<ErrorBody>(method, path, body);
      expect(reply.status, what).toBe(400);
      expect(reply.body.error.field, what).toBe(field);
      expect(reply.body.error.message, what).toContain(field);
    }
  }

  it('sets a price, increments its version on the next change and publishes each change through Pricing\'s outbox', async () => {
    const productId = await newProduct();
    const first = await call('PUT', `/pricing/prices/${productId}`, { amount: '19.99', currency: 'EUR' });
    expect(first).toEqual({ status: 200, body: { productId, amount: '19.99', listAmount: '19.99', currency: 'EUR', version: 1 } });
    const second = await call('PUT', `/pricing/prices/${productId}`, { amount: '17.5', currency: 'EUR' });
    expect(second).toEqual({ status: 200, body: { productId, amount: '17.5', listAmount: '17.5', currency: 'EUR', version: 2 } });
    const other = await call('PUT', `/pricing/prices/${productId}`, { amount: '21', currency: 'USD' });
    expect(other).toEqual({ status: 200, body: { productId, amount: '21', listAmount: '21', currency: 'USD', version: 3 } }); // one version across currencies

    const { rows } = await db().query('SELECT currency, amount::text AS amount, version FROM pricing.prices WHERE product_id = $1 ORDER BY currency', [productId]);
    expect(rows).toEqual([{ currency: 'EUR', amount: '17.5', version: 2 }, { currency: 'USD', amount: '21', version: 3 }]);
    const events = await outboxEvents('pricing', 'pricing.price.updated', productId);
    expect(events.map((data) => [data.currency, data.amount, data.listAmount, data.version, data.promotionId])).toEqual([
      ['EUR', '19.99', '19.99', 1, undefined], ['EUR', '17.5', '17.5', 2, undefined], ['USD', '21', '21', 3, undefined],
    ]);
  });

  it('answers bad price input with a 400 naming the field and changes nothing', async () => {
    const productId = randomUUID();
    await expectFieldErrors('PUT', `/pricing/prices/${productId}`, [
      ['negative amount', { amount: '-1.00', currency: 'EUR' }, 'amount'],
      ['too many decimals (the contract allows 4)', { amount: '19.99999', currency: 'EUR' }, 'amount'],
      ['amount as a JSON number', { amount: 19.99, currency: 'EUR' }, 'amount'],
      ['amount not a decimal', { amount: '1e3', currency: 'EUR' }, 'amount'],
      ['lower-case currency', { amount: '19.99', currency: 'eur' }, 'currency'],
      ['four-letter currency', { amount: '19.99', currency: 'EURO' }, 'currency'],
      ['missing amount', { currency: 'EUR' }, 'amount'],
      ['missing currency', { amount: '19.99' }, 'currency'],
      ['unknown field', { amount: '19.99', currency: 'EUR', discount: '1' }, 'discount'],
      ['array body', [], 'body'],
    ]);
    expect(await call('PUT', '/pricing/prices/not-a-uuid', { amount: '1', currency: 'EUR' })).toMatchObject({ status: 400, body: { error: { field: 'productId' } } });
    expect(await call('GET', '/pricing/prices/not-a-uuid')).toMatchObject({ status: 400, body: { error: { field: 'productId' } } });
    expect((await db().query('SELECT 1 FROM pricing.prices WHERE product_id = $1', [productId])).rowCount).toBe(0);
    expect(await outboxEvents('pricing', 'pricing.price.updated', productId)).toEqual([]);
    expect(await call('GET', `/pricing/prices/${productId}`)).toMatchObject({ status: 404, body: { error: { code: 'PRICE_NOT_FOUND', field: 'productId' } } });
    // 4 decimals is what the contract allows
    const priced = await newProduct();
    expect(await call('PUT', `/pricing/prices/${priced}`, { amount: '0.9999', currency: 'JPY' })).toMatchObject({ status: 200, body: { amount: '0.9999', version: 1 } });
  });

  it('serves a product\'s prices through Pricing\'s cache: miss, hit, and a miss with the new price after a change', async () => {
    const productId = await newProduct();
    await call('PUT', `/pricing/prices/${productId}`, { amount: '12.00', currency: 'EUR' });
    const first = await cachedGet<{ prices: { amount: string }[]; version: number }>(`/pricing/prices/${productId}`);
    expect(first).toMatchObject({ status: 200, cache: 'miss', body: { productId, version: 1, prices: [{ currency: 'EUR', amount: '12.00', listAmount: '12.00', version: 1 }] } });
    expect(await cachedGet(`/pricing/prices/${productId}`)).toMatchObject({ status: 200, cache: 'hit', body: first.body });
    await call('PUT', `/pricing/prices/${productId}`, { amount: '13.00', currency: 'EUR' });
    expect(await cachedGet(`/pricing/prices/${productId}`)).toMatchObject({ cache: 'miss', body: { version: 2, prices: [{ amount: '13.00' }] } });
    expect(await cachedGet(`/pricing/prices/${productId}`)).toMatchObject({ cache: 'hit', body: { version: 2 } });
  });

  it('adjusts stock up and down, refuses to go below 0 with a 409 that changes nothing, and publishes each change', async () => {
    const productId = await newProduct(); // stocked at once: Warehouse asks Catalog while its copy is on the way
    const path = `/warehouse/stock/${productId}/adjust`;
    expect(await call('POST', path, { delta: 5, reason: 'received' })).toEqual({ status: 200, body: { productId, onHand: 5, reserved: 0, available: 5, version: 1 } });
    expect(await call('POST', path, { delta: -2, reason: 'sale' })).toEqual({ status: 200, body: { productId, onHand: 3, reserved: 0, available: 3, version: 2 } });

    const refused = await call<ErrorBody>('POST', path, { delta: -4, reason: 'shipped' });
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'INSUFFICIENT_STOCK', field: 'delta' } } });
    expect(refused.body.error.message).toMatch(/delta: 3 units available/);

    const { rows } = await db().query('SELECT on_hand, reserved, available, version FROM warehouse.stock WHERE product_id = $1', [productId]);
    expect(rows).toEqual([{ on_hand: 3, reserved: 0, available: 3, version: 2 }]);
    const { rows: movements } = await db().query('SELECT reason, on_hand_delta, source FROM warehouse.movements WHERE product_id = $1 ORDER BY id', [productId]);
    expect(movements).toEqual([{ reason: 'received', on_hand_delta: 5, source: 'api' }, { reason: 'sale', on_hand_delta: -2, source: 'api' }]);
    const events = await outboxEvents('warehouse', 'warehouse.stock.changed', productId);
    expect(events.map((data) => [data.reason, data.onHand, data.reserved, data.available, data.version, data.warehouseId])).toEqual([
      ['received', 5, 0, 5, 1, DEFAULT_WAREHOUSE_ID], ['adjusted', 3, 0, 3, 2, DEFAULT_WAREHOUSE_ID], // a sale is published as `adjusted`
    ]);

    // a product without stock cannot go negative either, and gets no row
    const empty = await newProduct();
    expect(await call('POST', `/warehouse/stock/${empty}/adjust`, { delta: -1, reason: 'adjusted' })).toMatchObject({ status: 409, body: { error: { code: 'INSUFFICIENT_STOCK', field: 'delta' } } });
    expect((await db().query('SELECT 1 FROM warehouse.stock WHERE product_id = $1', [empty])).rowCount).toBe(0);
    expect(await outboxEvents('warehouse', 'warehouse.stock.changed', empty)).toEqual([]);
  });

  it('stocks only products Catalog has: 409 UNKNOWN_PRODUCT for others, 409 PRODUCT_DELETED for units received after a deletion', async () => {
    const unknown = randomUUID();
    const refused = await call<ErrorBody>('POST', `/warehouse/stock/${unknown}/adjust`, { delta: 3, reason: 'received' });
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'UNKNOWN_PRODUCT', field: 'productId' } } });
    expect(refused.body.error.message).toContain(unknown);
    expect((await db().query('SELECT 1 FROM warehouse.stock WHERE product_id = $1', [unknown])).rowCount).toBe(0);
    expect(await call('GET', `/warehouse/stock/${unknown}`)).toMatchObject({ status: 404, body: { error: { code: 'UNKNOWN_PRODUCT' } } });

    const productId = await newProduct();
    expect((await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: 4, reason: 'received' })).status).toBe(200);
    expect((await call('DELETE', `/catalog/products/${productId}`)).status).toBe(204);
    await waitFor('Warehouse\'s copy to have the deletion', async () => (await db().query('SELECT 1 FROM warehouse.products WHERE id = $1 AND deleted', [productId])).rowCount === 1, 30_000);
    expect(await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: 1, reason: 'received' })).toMatchObject({ status: 409, body: { error: { code: 'PRODUCT_DELETED', field: 'delta' } } });
    expect(await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: -4, reason: 'adjusted' })).toMatchObject({ status: 200, body: { available: 0 } }); // written off
  });

  it('answers bad stock input with a 400 naming the field', async () => {
    await expectFieldErrors('POST', `/warehouse/stock/${randomUUID()}/adjust`, [
      ['zero delta', { delta: 0, reason: 'adjusted' }, 'delta'],
      ['fractional delta', { delta: 1.5, reason: 'adjusted' }, 'delta'],
      ['delta as a string', { delta: '2', reason: 'adjusted' }, 'delta'],
      ['huge delta', { delta: 10_000_000, reason: 'adjusted' }, 'delta'],
      ['a sale that adds units', { delta: 2, reason: 'sale' }, 'delta'],
      ['reason outside the list', { delta: 2, reason: 'gift' }, 'reason'],
      ['reason of an order event', { delta: 2, reason: 'reserved' }, 'reason'],
      ['missing delta', { reason: 'adjusted' }, 'delta'],
      ['missing reason', { delta: 2 }, 'reason'],
      ['unknown field', { delta: 2, reason: 'adjusted', warehouse: 'x' }, 'warehouse'],
    ]);
    expect(await call('POST', '/warehouse/stock/nope/adjust', { delta: 1, reason: 'received' })).toMatchObject({ status: 400, body: { error: { field: 'productId' } } });
  });

  it('never lets concurrent adjustments take stock below 0', async () => {
    const productId = await newProduct();
    expect((await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: 10, reason: 'received' })).status).toBe(200);
    const replies = await Promise.all(Array.from({ length: 30 }, () => call('POST', `/warehouse/stock/${productId}/adjust`, { delta: -1, reason: 'sale' })));
    expect(replies.filter((reply) => reply.status === 200)).toHaveLength(10);
    expect(replies.filter((reply) => reply.status === 409).every((reply) => (reply.body as ErrorBody).error.code === 'INSUFFICIENT_STOCK')).toBe(true);
    expect(replies.filter((reply) => reply.status === 409)).toHaveLength(20);
    const { rows } = await db().query('SELECT on_hand, available, version FROM warehouse.stock WHERE product_id = $1', [productId]);
    expect(rows).toEqual([{ on_hand: 0, available: 0, version: 11 }]);
    const events = await outboxEvents('warehouse', 'warehouse.stock.changed', productId);
    expect(events.map((data) => data.version)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(events.map((data) => data.available)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  });

  it('serves stock through Warehouse\'s cache with the product\'s name, rebuilt after a stock change and after a rename in Catalog', async () => {
    const productId = await newProduct('Copper ladle');
    await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: 7, reason: 'received' });
    await waitFor('the product in Warehouse\'s copy', async () => (await db().query('SELECT 1 FROM warehouse.products WHERE id = $1', [productId])).rowCount === 1, 30_000);
    const first = await cachedGet(`/warehouse/stock/${productId}`);
    expect(first).toMatchObject({ status: 200, cache: 'miss', body: { productId, warehouseId: DEFAULT_WAREHOUSE_ID, product: { name: 'Copper ladle', status: 'active' }, onHand: 7, available: 7, version: 1 } });
    expect(await cachedGet(`/warehouse/stock/${productId}`)).toMatchObject({ cache: 'hit', body: first.body });
    await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: -1, reason: 'adjusted' });
    expect(await cachedGet(`/warehouse/stock/${productId}`)).toMatchObject({ cache: 'miss', body: { available: 6, version: 2 } });
    expect(await cachedGet(`/warehouse/stock/${productId}`)).toMatchObject({ cache: 'hit' });
    await call('PUT', `/catalog/products/${productId}`, { name: 'Walnut ladle' });
    await waitFor('the new name in the stock view', async () => (await cachedGet<{ product: { name: string } }>(`/warehouse/stock/${productId}`)).body.product.name === 'Walnut ladle', 30_000);
  });

  it('shows a product with its price and stock through Catalog\'s cache, dropped by its own changes', async () => {
    expect(await call('GET', `/catalog/products/${randomUUID()}`)).toMatchObject({ status: 404, body: { error: { code: 'PRODUCT_NOT_FOUND' } } });
    const productId = await newProduct('Blue kettle');
    const bare = await cachedGet(`/catalog/products/${productId}`);
    expect(bare).toMatchObject({ status: 200, cache: 'miss', body: { id: productId, name: 'Blue kettle', version: 1, price: null, prices: [], stock: null, rating: null } });
    expect(await cachedGet(`/catalog/products/${productId}`)).toMatchObject({ cache: 'hit', body: bare.body });

    await call('PUT', `/pricing/prices/${productId}`, { amount: '24.50', currency: 'EUR' });
    await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: 9, reason: 'received' });
    await waitFor('price and stock in Catalog\'s view', async () => {
      const { body } = await cachedGet<{ price: { amount: string } | null; stock: { available: number } | null }>(`/catalog/products/${productId}`);
      return body.price?.amount === '24.50' && body.stock?.available === 9;
    }, 30_000);
    expect((await cachedGet(`/catalog/products/${productId}`)).body).toMatchObject({
      price: { currency: 'EUR', amount: '24.50', listAmount: '24.50', version: 1 }, stock: { available: 9, onHand: 9, reserved: 0 },
    });
    // a stock change alone drops the cached view too
    expect((await cachedGet(`/catalog/products/${productId}`)).cache).toBe('hit');
    await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: -2, reason: 'sale' });
    await waitFor('the new stock in Catalog\'s view', async () => (await cachedGet<{ stock: { available: number } }>(`/catalog/products/${productId}`)).body.stock.available === 7, 30_000);

    // its own write drops the view at once: the next read is a miss with the new name
    expect((await call('PUT', `/catalog/products/${productId}`, { name: 'Green kettle' })).status).toBe(200);
    expect(await cachedGet(`/catalog/products/${productId}`)).toMatchObject({ cache: 'miss', body: { name: 'Green kettle', version: 2, price: { amount: '24.50' } } });
    expect((await call('DELETE', `/catalog/products/${productId}`)).status).toBe(204);
    expect(await call('GET', `/catalog/products/${productId}`)).toMatchObject({ status: 404 });
  });

  it('creates, changes and deletes promotions, publishing each change', async () => {
    const productId = await newProduct();
    const created = await call<Promotion>('POST', '/promotions', {
      name: 'Spring sale', code: 'SPRING-10', status: 'active', discountType: 'percentage', value: '10', productIds: [productId], startsAt: '2026-01-01T00:00:00Z',
    });
    expect(created).toMatchObject({ status: 201, body: { name: 'Spring sale', code: 'SPRING-10', status: 'active', discountType: 'percentage', value: '10', productIds: [productId], categories: [], startsAt: '2026-01-01T00:00:00.000Z', version: 1 } });
    const id = created.body.id;
    expect(await call('GET', `/promotions/${id}`)).toMatchObject({ status: 200, body: { id, version: 1 } });

    const changed = await call('PUT', `/promotions/${id}`, { discountType: 'fixed-amount', value: '2.50', currency: 'EUR', endsAt: '2027-01-01T00:00:00Z' });
    expect(changed).toMatchObject({ status: 200, body: { id, discountType: 'fixed-amount', value: '2.50', currency: 'EUR', endsAt: '2027-01-01T00:00:00.000Z', version: 2 } });
    // back to a percentage: the currency goes with the fixed amount
    const back = await call<Promotion>('PUT', `/promotions/${id}`, { discountType: 'percentage', value: '20' });
    expect(back).toMatchObject({ status: 200, body: { discountType: 'percentage', value: '20', version: 3 } });
    expect(back.body.currency).toBeUndefined();

    expect(await call('POST', '/promotions', { name: 'Copy', code: 'SPRING-10', discountType: 'percentage', value: '5', categories: ['kitchen'] }))
      .toMatchObject({ status: 409, body: { error: { code: 'CODE_TAKEN', field: 'code' } } });
    expect(await call('DELETE', `/promotions/${id}`)).toEqual({ status: 204, body: undefined });
    expect(await call('DELETE', `/promotions/${id}`)).toMatchObject({ status: 404, body: { error: { code: 'PROMOTION_NOT_FOUND' } } });
    expect(await call('PUT', `/promotions/${id}`, { name: 'Again' })).toMatchObject({ status: 404 });
    expect(await call('GET', '/promotions/not-a-uuid')).toMatchObject({ status: 404 });

    const events = await outboxEvents('promotion', 'promotion.promotion.created', id, 'id');
    expect(events).toHaveLength(1);
    expect((await outboxEvents('promotion', 'promotion.promotion.updated', id, 'id')).map((data) => data.version)).toEqual([2, 3]);
    expect(await outboxEvents('promotion', 'promotion.promotion.deleted', id, 'id')).toMatchObject([{ id, version: 4 }]);
  });

  it('answers bad promotions with a 400 naming the field, and a product Catalog does not have with a 409', async () => {
    const productId = await newProduct();
    const valid = { name: 'Deal', discountType: 'percentage', value: '10', productIds: [productId] };
    await expectFieldErrors('POST', '/promotions', [
      ['missing name', { ...valid, name: undefined }, 'name'],
      ['missing value', { ...valid, value: undefined }, 'value'],
      ['unknown discount type', { ...valid, discountType: 'bogo' }, 'discountType'],
      ['percentage above 100', { ...valid, value: '150' }, 'value'],
      ['zero discount', { ...valid, value: '0' }, 'value'],
      ['negative value', { ...valid, value: '-5' }, 'value'],
      ['percentage with a currency', { ...valid, currency: 'EUR' }, 'currency'],
      ['fixed amount without a currency', { ...valid, discountType: 'fixed-amount', value: '5' }, 'currency'],
      ['nothing to apply to', { ...valid, productIds: [] }, 'productIds'],
      ['a product id that is not a UUID', { ...valid, productIds: ['kettle'] }, 'productIds'],
      ['the same product twice', { ...valid, productIds: [productId, productId] }, 'productIds'],
      ['categories not a list', { ...valid, categories: 'kitchen' }, 'categories'],
      ['bad code', { ...valid, code: 'spring sale' }, 'code'],
      ['bad status', { ...valid, status: 'live' }, 'status'],
      ['startsAt not a timestamp', { ...valid, startsAt: 'tomorrow' }, 'startsAt'],
      ['endsAt before startsAt', { ...valid, startsAt: '2026-06-01T00:00:00Z', endsAt: '2026-05-01T00:00:00Z' }, 'endsAt'],
      ['unknown field', { ...valid, stackable: true }, 'stackable'],
    ]);
    const unknown = randomUUID();
    const refused = await call<ErrorBody>('POST', '/promotions', { ...valid, productIds: [productId, unknown] });
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'UNKNOWN_PRODUCT', field: 'productIds' } } });
    expect(refused.body.error.message).toContain(unknown);
    const created = await call<Promotion>('POST', '/promotions', valid);
    expect(created.status).toBe(201);
    expect(await call('PUT', `/promotions/${created.body.id}`, {})).toMatchObject({ status: 400, body: { error: { code: 'NOTHING_TO_CHANGE' } } });
    expect(await call('PUT', `/promotions/${created.body.id}`, { value: '101' })).toMatchObject({ status: 400, body: { error: { field: 'value' } } });
  });

  it('knows the default warehouse from the start, announces it once, and creates and changes locations', async () => {
    const known = await call('GET', `/locations/${DEFAULT_WAREHOUSE_ID}`);
    expect(known).toMatchObject({ status: 200, body: { id: DEFAULT_WAREHOUSE_ID, type: 'warehouse', name: DEFAULT_WAREHOUSE.name, active: true, version: 1 } });
    expect(DEFAULT_WAREHOUSE.id).toBe(DEFAULT_WAREHOUSE_ID);
    await waitFor('the default warehouse announced', async () => (await outboxEvents('location', 'location.location.created', DEFAULT_WAREHOUSE_ID, 'id')).length === 1, 10_000);

    const address = { line1: '5 Harbour Road', city: 'Hamburg', postalCode: '20095', country: 'DE' };
    const created = await call<Location>('POST', '/locations', { type: 'store', name: 'Harbour shop', address, timeZone: 'Europe/Berlin' });
    expect(created).toMatchObject({ status: 201, body: { type: 'store', name: 'Harbour shop', address, timeZone: 'Europe/Berlin', active: true, version: 1 } });
    const id = created.body.id;
    expect(await call('PUT', `/locations/${id}`, { active: false, name: 'Harbour shop (closed)' })).toMatchObject({ status: 200, body: { active: false, name: 'Harbour shop (closed)', version: 2 } });
    expect((await outboxEvents('location', 'location.location.updated', id, 'id')).map((data) => data.version)).toEqual([2]);
    expect(await call('PUT', `/locations/${randomUUID()}`, { name: 'Nowhere' })).toMatchObject({ status: 404, body: { error: { code: 'LOCATION_NOT_FOUND' } } });

    await expectFieldErrors('POST', '/locations', [
      ['missing type', { name: 'Depot', address, timeZone: 'UTC' }, 'type'],
      ['unknown type', { type: 'depot', name: 'Depot', address, timeZone: 'UTC' }, 'type'],
      ['address not an object', { type: 'warehouse', name: 'Depot', address: 'Hamburg', timeZone: 'UTC' }, 'address'],
      ['address without a city', { type: 'warehouse', name: 'Depot', address: { ...address, city: undefined }, timeZone: 'UTC' }, 'address.city'],
      ['lower-case country', { type: 'warehouse', name: 'Depot', address: { ...address, country: 'de' }, timeZone: 'UTC' }, 'address.country'],
      ['unknown time zone', { type: 'warehouse', name: 'Depot', address, timeZone: 'Mars/Olympus' }, 'timeZone'],
      ['active not a boolean', { type: 'warehouse', name: 'Depot', address, timeZone: 'UTC', active: 'yes' }, 'active'],
    ]);

    // a warehouse that holds stock stays one
    const productId = await newProduct();
    await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: 2, reason: 'received' });
    await waitFor('Location to count the stock', async () => (await call<{ stock: { onHand: number } }>('GET', `/locations/${DEFAULT_WAREHOUSE_ID}`)).body.stock.onHand >= 2, 30_000);
    expect(await call('PUT', `/locations/${DEFAULT_WAREHOUSE_ID}`, { type: 'store' })).toMatchObject({ status: 409, body: { error: { code: 'LOCATION_HAS_STOCK', field: 'type' } } });
  });

  it('publishes every owner\'s events to the transport, with no 500 and no background error along the way', async () => {
    await waitFor('the relays to publish', async () => {
      const statuses = await Promise.all(['catalog', 'pricing', 'warehouse', 'promotion', 'location'].map((schema) => outboxStatus(db(), schema)));
      return statuses.every((status) => status.pending === 0 && status.publishedTotal > 0);
    }, 30_000);
    expect(platform.errors).toEqual([]);
  });
});
