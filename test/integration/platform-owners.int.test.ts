import { randomUUID } from 'node:crypto';
import { outboxStatus } from 'datasync/postgres';
import type pg from 'pg';
import { expect, it } from 'vitest';
import { usePlatformProcess, type ApiReply } from '../support/platform-process.js';
import { describeWithServers, waitFor } from '../support/servers.js';

// Pricing and Warehouse through the HTTP API. As in platform-http.int.test.ts, the platform
// runs as `platform/main.ts` in a child process on a database of its own (the services
// hard-code their schemas), postgres transport, free port, no demo workload; this file reads
// the owners' tables and outboxes in that database directly.

interface PriceBody { productId: string; amount: string; currency: string; version: number }
interface StockBody { productId: string; available: number; version: number }
interface ErrorBody { error: { code: string; message: string; field?: string } }

describeWithServers(['postgres'], 'Pricing and Warehouse over the HTTP API (platform/main.ts --port 0 --no-workload)', () => {
  const platform = usePlatformProcess('platform_owners');
  const call = <T = ErrorBody>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiReply<T>> => platform.call<T>(method, path, body, raw);
  const db = (): pg.Pool => platform.db();

  /** The data of the events on `topic` in `schema`'s outbox about `productId`, oldest first. */
  async function outboxEvents(schema: 'pricing' | 'warehouse', topic: string, productId: string): Promise<Record<string, unknown>[]> {
    const { rows } = await db().query<{ data: Record<string, unknown> }>(
      `SELECT envelope->'data' AS data FROM ${schema}.outbox WHERE topic = $1 AND envelope->'data'->>'productId' = $2 ORDER BY id`,
      [topic, productId],
    );
    return rows.map((row) => row.data);
  }

  it('sets a price, increments its version on the next change and publishes each change through Pricing\'s outbox', async () => {
    const productId = randomUUID();
    const first = await call<PriceBody>('PUT', `/pricing/prices/${productId}`, { amount: '19.99', currency: 'EUR' });
    expect(first).toEqual({ status: 200, body: { productId, amount: '19.99', currency: 'EUR', version: 1 } });
    const second = await call<PriceBody>('PUT', `/pricing/prices/${productId}`, { amount: '17.5', currency: 'EUR' });
    expect(second).toEqual({ status: 200, body: { productId, amount: '17.5', currency: 'EUR', version: 2 } });
    const other = await call<PriceBody>('PUT', `/pricing/prices/${productId}`, { amount: '21', currency: 'USD' });
    expect(other).toEqual({ status: 200, body: { productId, amount: '21', currency: 'USD', version: 3 } }); // one version across currencies

    const { rows } = await db().query('SELECT currency, amount::text AS amount, version FROM pricing.prices WHERE product_id = $1 ORDER BY currency', [productId]);
    expect(rows).toEqual([{ currency: 'EUR', amount: '17.5', version: 2 }, { currency: 'USD', amount: '21', version: 3 }]);
    const events = await outboxEvents('pricing', 'pricing.price.updated', productId);
    expect(events.map((data) => [data.currency, data.amount, data.listAmount, data.version])).toEqual([['EUR', '19.99', '19.99', 1], ['EUR', '17.5', '17.5', 2], ['USD', '21', '21', 3]]);
  });

  it('answers bad price input with a 400 naming the field and changes nothing', async () => {
    const productId = randomUUID();
    const cases: [string, unknown, string][] = [
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
    ];
    for (const [what, body, field] of cases) {
      const reply = await call('PUT', `/pricing/prices/${productId}`, body);
      expect(reply.status, what).toBe(400);
      expect(reply.body.error.field, what).toBe(field);
      expect(reply.body.error.message, what).toContain(field);
    }
    expect(await call('PUT', '/pricing/prices/not-a-uuid', { amount: '1', currency: 'EUR' })).toMatchObject({ status: 400, body: { error: { field: 'productId' } } });
    expect((await db().query('SELECT 1 FROM pricing.prices WHERE product_id = $1', [productId])).rowCount).toBe(0);
    expect(await outboxEvents('pricing', 'pricing.price.updated', productId)).toEqual([]);
    // 4 decimals is what the contract allows
    expect(await call('PUT', `/pricing/prices/${productId}`, { amount: '0.9999', currency: 'JPY' })).toMatchObject({ status: 200, body: { amount: '0.9999', version: 1 } });
  });

  it('adjusts stock up and down, refuses to go below 0 with a 409 that changes nothing, and publishes each change', async () => {
    const productId = randomUUID();
    const path = `/warehouse/stock/${productId}/adjust`;
    expect(await call<StockBody>('POST', path, { delta: 5, reason: 'received' })).toEqual({ status: 200, body: { productId, available: 5, version: 1 } });
    expect(await call<StockBody>('POST', path, { delta: -2, reason: 'shipped' })).toEqual({ status: 200, body: { productId, available: 3, version: 2 } });

    const refused = await call('POST', path, { delta: -4, reason: 'shipped' });
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'INSUFFICIENT_STOCK', field: 'delta' } } });
    expect(refused.body.error.message).toMatch(/delta: 3 units available/);

    const { rows } = await db().query('SELECT available, version FROM warehouse.stock WHERE product_id = $1', [productId]);
    expect(rows).toEqual([{ available: 3, version: 2 }]);
    const events = await outboxEvents('warehouse', 'warehouse.stock.changed', productId);
    expect(events.map((data) => [data.reason, data.onHand, data.reserved, data.available, data.version])).toEqual([['received', 5, 0, 5, 1], ['shipped', 3, 0, 3, 2]]);

    // a product without stock cannot go negative either, and gets no row
    const unknown = randomUUID();
    expect(await call('POST', `/warehouse/stock/${unknown}/adjust`, { delta: -1, reason: 'adjusted' })).toMatchObject({ status: 409, body: { error: { code: 'INSUFFICIENT_STOCK', field: 'delta' } } });
    expect((await db().query('SELECT 1 FROM warehouse.stock WHERE product_id = $1', [unknown])).rowCount).toBe(0);
    expect(await outboxEvents('warehouse', 'warehouse.stock.changed', unknown)).toEqual([]);
  });

  it('answers bad stock input with a 400 naming the field', async () => {
    const path = `/warehouse/stock/${randomUUID()}/adjust`;
    const cases: [string, unknown, string][] = [
      ['zero delta', { delta: 0, reason: 'adjusted' }, 'delta'],
      ['fractional delta', { delta: 1.5, reason: 'adjusted' }, 'delta'],
      ['delta as a string', { delta: '2', reason: 'adjusted' }, 'delta'],
      ['reason outside the contract', { delta: 2, reason: 'sale' }, 'reason'],
      ['missing delta', { reason: 'adjusted' }, 'delta'],
      ['missing reason', { delta: 2 }, 'reason'],
      ['unknown field', { delta: 2, reason: 'adjusted', warehouse: 'x' }, 'warehouse'],
    ];
    for (const [what, body, field] of cases) {
      const reply = await call('POST', path, body);
      expect(reply.status, what).toBe(400);
      expect(reply.body.error.field, what).toBe(field);
      expect(reply.body.error.message, what).toContain(field);
    }
    expect(await call('POST', '/warehouse/stock/nope/adjust', { delta: 1, reason: 'received' })).toMatchObject({ status: 400, body: { error: { field: 'productId' } } });
  });

  it('publishes the owners\' events to the transport (the relays empty both outboxes)', async () => {
    await waitFor('the pricing and warehouse relays to publish', async () => {
      const [prices, stock] = await Promise.all([outboxStatus(db(), 'pricing'), outboxStatus(db(), 'warehouse')]);
      return prices.pending === 0 && stock.pending === 0 && prices.publishedTotal > 0 && stock.publishedTotal > 0;
    }, 15_000);
    expect(platform.output.filter((line) => line.includes('HTTP request failed'))).toEqual([]); // no 500 along the way
  });
});
