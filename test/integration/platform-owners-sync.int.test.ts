import { randomBytes, randomUUID } from 'node:crypto';
import type { CloudEvent } from 'datasync';
import type { Topic } from 'datasync/core';
import { expect, it } from 'vitest';
import { probeEnvelope, publishProbe } from '../../platform/audit/publish.js';
import type { FulfillmentStatusChanged } from '../../platform/contracts/fulfillment.js';
import type { OrderStatusChanged } from '../../platform/contracts/order.js';
import { fulfillmentStatusChanged, orderPlaced, orderStatusChanged, returnReceived, reviewModerated, type Review } from '../../platform/contracts/index.js';
import type { PriceUpdated } from '../../platform/contracts/pricing.js';
import { catalogModule } from '../../platform/services/catalog/index.js';
import { locationModule } from '../../platform/services/location/index.js';
import { pricingModule } from '../../platform/services/pricing/index.js';
import { promotionModule } from '../../platform/services/promotion/index.js';
import { auditOrder } from '../../platform/services/warehouse/audit.js';
import { DEFAULT_WAREHOUSE_ID, warehouseModule } from '../../platform/services/warehouse/index.js';
import type { ProductView } from '../../platform/services/catalog/index.js';
import type { PriceView } from '../../platform/services/pricing/index.js';
import type { StockView } from '../../platform/services/warehouse/index.js';
import type { Promotion } from '../../platform/contracts/promotion.js';
import { useInProcessPlatform } from '../support/platform-harness.js';
import { describeWithServers, waitFor } from '../support/servers.js';

// The events between the owners: prices and stock reaching Catalog's view, held and
// dead-lettered references, promotions re-pricing products, Warehouse's reservations from
// order, fulfillment and return events (published here as their owners would, through the
// platform's transport), caches dropped by events, and each module's audit probes.

describeWithServers(['postgres'], 'the owners\' events (Catalog, Pricing, Warehouse, Promotion, Location in one process)', () => {
  const platform = useInProcessPlatform('platform_owners_sync', () => [catalogModule, pricingModule, warehouseModule, promotionModule, locationModule]);
  const db = () => platform.db();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const call = <T = any>(method: string, path: string, body?: unknown) => platform.call<T>(method, path, body);

  async function cachedGet<T>(path: string): Promise<{ status: number; cache: string | null; body: T }> {
    const response = await fetch(`${platform.platform().url}${path}`);
    return { status: response.status, cache: response.headers.get('x-cache'), body: (await response.json()) as T };
  }

  async function newProduct(name = 'Kettle'): Promise<string> {
    const reply = await call<{ id: string }>('POST', '/catalog/products', { sku: `SYN-${randomBytes(4).toString('hex').toUpperCase()}`, name });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return reply.body.id;
  }

  async function stocked(units: number): Promise<string> {
    const productId = await newProduct();
    expect((await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: units, reason: 'received' })).status).toBe(200);
    return productId;
  }

  /** Publishes `data` on `topic` as its owner would; resolves with the envelope. */
  async function publish<T>(topic: Topic<T>, data: T): Promise<CloudEvent<T>> {
    const event = probeEnvelope(topic, data);
    await publishProbe(platform.transport().publisher, topic as Topic<unknown>, event);
    return event;
  }

  async function processed(service: string, eventId: string): Promise<void> {
    await waitFor(`${service} to process ${eventId}`, async () => (await db().query(`SELECT 1 FROM ${service}.processed_events WHERE event_id = $1`, [eventId])).rowCount === 1, 30_000);
  }

  async function deadLetter(service: string, eventId: string, timeoutMs = 30_000): Promise<{ reason: string; error_message: string; attempts: number }> {
    let letter: { reason: string; error_message: string; attempts: number } | undefined;
    await waitFor(`${eventId} in ${service}'s dead letters`, async () => {
      ({ rows: [letter] } = await db().query<{ reason: string; error_message: string; attempts: number }>(`SELECT reason, error_message, attempts FROM ${service}.dead_letters WHERE event_id = $1`, [eventId]));
      return letter !== undefined;
    }, timeoutMs);
    return letter!;
  }

  async function stock(productId: string): Promise<{ on_hand: number; reserved: number; available: number }> {
    const { rows: [row] } = await db().query<{ on_hand: number; reserved: number; available: number }>(
      'SELECT on_hand, reserved, available FROM warehouse.stock WHERE product_id = $1', [productId]);
    return row!;
  }

  async function stockEvents(productId: string): Promise<{ reason: string; onHand: number; reserved: number; available: number }[]> {
    const { rows } = await db().query<{ data: { reason: string; onHand: number; reserved: number; available: number } }>(
      "SELECT envelope->'data' AS data FROM warehouse.outbox WHERE topic = 'warehouse.stock.changed' AND partition_key = $1 ORDER BY id", [productId],
    );
    return rows.map(({ data }) => ({ reason: data.reason, onHand: data.onHand, reserved: data.reserved, available: data.available }));
  }

  const duplicates = (service: string): number => platform.platform().services.get(service)!.consumer!.stats().duplicate;

  it('brings prices, stock and approved reviews into Catalog\'s view, version-checked', async () => {
    const productId = await newProduct();
    await call('PUT', `/pricing/prices/${productId}`, { amount: '30.00', currency: 'EUR' });
    await call('PUT', `/pricing/prices/${productId}`, { amount: '35.00', currency: 'USD' });
    await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: 6, reason: 'received' });
    const review = (rating: number, status: Review['status'], version = 1): Review => ({
      id: randomUUID(), productId, customerId: randomUUID(), authorName: 'Ada', rating, body: 'Boils fast.', status, verifiedPurchase: true, version, updatedAt: new Date().toISOString(),
    });
    const reviews = [review(5, 'approved'), review(4, 'approved'), review(1, 'rejected')];
    for (const data of reviews) await processed('catalog', (await publish(reviewModerated, data)).id);
    await waitFor('Catalog\'s view to show all of it', async () => {
      const { body } = await cachedGet<ProductView>(`/catalog/products/${productId}`);
      return body.prices.length === 2 && body.stock?.available === 6;
    }, 30_000);
    expect((await cachedGet<ProductView>(`/catalog/products/${productId}`)).body).toMatchObject({
      price: { currency: 'USD', amount: '35.00', version: 2 }, // the one changed last
      prices: [{ currency: 'USD', version: 2 }, { currency: 'EUR', amount: '30.00', version: 1 }],
      stock: { available: 6, onHand: 6, reserved: 0 },
      rating: { average: 4.5, count: 2 },
    });

    // an older price arriving late changes nothing (version-based)
    const now = new Date().toISOString();
    const late = await publish(priceTopic(), { productId, currency: 'EUR', listAmount: '1.00', amount: '1.00', version: 1, effectiveFrom: now, updatedAt: now });
    await processed('catalog', late.id);
    expect((await db().query('SELECT amount::text AS amount FROM catalog.product_prices WHERE product_id = $1 AND currency = $2', [productId, 'EUR'])).rows).toEqual([{ amount: '30.00' }]);
    // a later moderation of a review replaces it: rejected now, so the average is of one review
    await processed('catalog', (await publish<Review>(reviewModerated, { ...reviews[0]!, status: 'rejected', version: 2 })).id);
    expect((await cachedGet<ProductView>(`/catalog/products/${productId}`)).body.rating).toEqual({ average: 4, count: 1 });
  });

  function priceTopic(): Topic<PriceUpdated> {
    return pricingModule.publishes[0] as Topic<PriceUpdated>;
  }

  it('drops Catalog\'s cached view when a price changes: miss, hit, then a miss with the new price', async () => {
    const productId = await newProduct();
    await call('PUT', `/pricing/prices/${productId}`, { amount: '10.00', currency: 'EUR' });
    await waitFor('the price in Catalog', async () => (await cachedGet<ProductView>(`/catalog/products/${productId}`)).body.price?.amount === '10.00', 30_000);
    expect(await cachedGet<ProductView>(`/catalog/products/${productId}`)).toMatchObject({ cache: 'hit', body: { price: { amount: '10.00' } } });
    await call('PUT', `/pricing/prices/${productId}`, { amount: '11.00', currency: 'EUR' });
    let seen: { cache: string | null; body: ProductView } | undefined;
    await waitFor('the new price in Catalog\'s view', async () => {
      seen = await cachedGet<ProductView>(`/catalog/products/${productId}`);
      return seen.body.price?.amount === '11.00';
    }, 30_000);
    expect(seen!.cache).toBe('miss'); // rebuilt, not a stale entry
    expect(await cachedGet<ProductView>(`/catalog/products/${productId}`)).toMatchObject({ cache: 'hit', body: { price: { amount: '11.00' } } });
  });

  it('holds a price for a product Catalog does not have, then dead-letters it naming the product; a price for a deleted product is dropped', async () => {
    const unknown = randomUUID();
    const now = new Date().toISOString();
    const event = await publish(priceTopic(), { productId: unknown, currency: 'EUR', listAmount: '5.00', amount: '5.00', version: 1, effectiveFrom: now, updatedAt: now });
    const letter = await deadLetter('catalog', event.id);
    expect(letter).toMatchObject({ reason: 'retries_exhausted', attempts: 4 });
    expect(letter.error_message).toBe(`price for unknown product ${unknown}: held 4 attempts, Catalog has no such product`);
    expect((await db().query('SELECT 1 FROM catalog.product_prices WHERE product_id = $1', [unknown])).rowCount).toBe(0);

    // the same price, once the product exists, is applied
    const productId = await newProduct();
    const held = await publish(priceTopic(), { productId, currency: 'EUR', listAmount: '5.00', amount: '4.00', version: 1, effectiveFrom: now, updatedAt: now });
    await processed('catalog', held.id);
    // a deleted product's price is dropped, not held
    await call('DELETE', `/catalog/products/${productId}`);
    const after = await publish(priceTopic(), { productId, currency: 'EUR', listAmount: '5.00', amount: '5.00', version: 2, effectiveFrom: now, updatedAt: now });
    await processed('catalog', after.id);
    expect((await db().query('SELECT count(*)::int AS n FROM catalog.dead_letters WHERE event_id = $1', [after.id])).rows).toEqual([{ n: 0 }]);
    // a selling price above the list price breaks Pricing's contract: dead-lettered at once
    const other = await newProduct();
    const broken = await publish(priceTopic(), { productId: other, currency: 'EUR', listAmount: '5.00', amount: '6.00', version: 1, effectiveFrom: now, updatedAt: now });
    expect(await deadLetter('catalog', broken.id)).toMatchObject({ reason: 'permanent', attempts: 1 });
  });

  it('re-prices a product for a promotion (a price event with the promotion and the reduced amount), and back when it goes', async () => {
    const productId = await newProduct();
    await call('PUT', `/pricing/prices/${productId}`, { amount: '20.00', currency: 'EUR' });
    await cachedGet<PriceView>(`/pricing/prices/${productId}`); // cached at the list price
    const promotion = await call<Promotion>('POST', '/promotions', { name: 'Quarter off', status: 'active', discountType: 'percentage', value: '25', productIds: [productId] });
    expect(promotion.status).toBe(201);
    const promotionId = promotion.body.id;

    await waitFor('Pricing to re-price the product', async () => (await cachedGet<PriceView>(`/pricing/prices/${productId}`)).body.prices[0]?.amount === '15.00', 30_000);
    const { rows: events } = await db().query<{ data: PriceUpdated; causation: string }>(
      "SELECT envelope->'data' AS data, envelope->>'causationid' AS causation FROM pricing.outbox WHERE topic = 'pricing.price.updated' AND partition_key = $1 ORDER BY id", [productId],
    );
    expect(events.map(({ data }) => [data.listAmount, data.amount, data.promotionId, data.version])).toEqual([['20.00', '20.00', undefined, 1], ['20.00', '15.00', promotionId, 2]]);
    expect(events[1]!.causation).toEqual(expect.any(String)); // caused by the promotion event
    await waitFor('Catalog to show the promotional price', async () => (await cachedGet<ProductView>(`/catalog/products/${productId}`)).body.price?.promotionId === promotionId, 30_000);
    expect((await cachedGet<ProductView>(`/catalog/products/${productId}`)).body.price).toMatchObject({ amount: '15.00', listAmount: '20.00', promotionId });

    // a new list price keeps the promotion
    expect(await call('PUT', `/pricing/prices/${productId}`, { amount: '40.00', currency: 'EUR' })).toMatchObject({ status: 200, body: { amount: '30.00', listAmount: '40.00', promotionId, version: 3 } });
    // a better fixed-amount promotion wins; ending it brings the percentage back
    const fixed = await call<Promotion>('POST', '/promotions', { name: 'Twelve off', status: 'active', discountType: 'fixed-amount', value: '12', currency: 'EUR', productIds: [productId] });
    await waitFor('the fixed amount to win', async () => (await cachedGet<PriceView>(`/pricing/prices/${productId}`)).body.prices[0]?.amount === '28.00', 30_000);
    await call('PUT', `/promotions/${fixed.body.id}`, { status: 'ended' });
    await waitFor('the percentage back', async () => (await cachedGet<PriceView>(`/pricing/prices/${productId}`)).body.prices[0]?.amount === '30.00', 30_000);

    // out of stock: sold at the list price (Pricing's stock rule); back in stock: discounted again
    await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: 1, reason: 'received' });
    await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: -1, reason: 'sale' });
    await waitFor('the list price while out of stock', async () => {
      const { body } = await cachedGet<PriceView>(`/pricing/prices/${productId}`);
      return body.stock?.available === 0 && body.prices[0]?.amount === '40.00';
    }, 30_000);
    await call('POST', `/warehouse/stock/${productId}/adjust`, { delta: 3, reason: 'received' });
    await waitFor('the discount back in stock', async () => (await cachedGet<PriceView>(`/pricing/prices/${productId}`)).body.prices[0]?.amount === '30.00', 30_000);

    // the promotion deleted: the list price again
    await call('DELETE', `/promotions/${promotionId}`);
    await waitFor('the list price', async () => {
      const { body } = await cachedGet<PriceView>(`/pricing/prices/${productId}`);
      return body.prices[0]?.amount === '40.00' && body.prices[0]?.promotionId === undefined;
    }, 30_000);
  });

  it('takes a deleted product out of its promotions, ending one left with nothing, and Pricing drops the discount', async () => {
    const [kept, gone] = [await newProduct(), await newProduct()];
    const both = await call<Promotion>('POST', '/promotions', { name: 'Pair', status: 'active', discountType: 'percentage', value: '10', productIds: [kept, gone] });
    const alone = await call<Promotion>('POST', '/promotions', { name: 'Solo', status: 'active', discountType: 'percentage', value: '50', productIds: [gone] });
    await call('PUT', `/pricing/prices/${gone}`, { amount: '10.00', currency: 'EUR' });
    await waitFor('the discount', async () => (await cachedGet<PriceView>(`/pricing/prices/${gone}`)).body.prices[0]?.amount === '5.00', 30_000);
    await call('DELETE', `/catalog/products/${gone}`);
    await waitFor('the promotions to let the product go', async () => (await call<Promotion>('GET', `/promotions/${alone.body.id}`)).body.status === 'ended', 30_000);
    expect(await call<Promotion>('GET', `/promotions/${alone.body.id}`)).toMatchObject({ body: { productIds: [], status: 'ended', version: 2 } });
    expect(await call<Promotion>('GET', `/promotions/${both.body.id}`)).toMatchObject({ body: { productIds: [kept], status: 'active', version: 2 } });
    await waitFor('Pricing to drop the discount', async () => (await cachedGet<PriceView>(`/pricing/prices/${gone}`)).body.prices[0]?.amount === '10.00', 30_000);
    expect(await call('POST', '/promotions', { name: 'Late', discountType: 'percentage', value: '5', productIds: [gone] })).toMatchObject({ status: 409, body: { error: { code: 'PRODUCT_DELETED' } } });
  });

  it('reserves stock for a placed order once, however often it is delivered, and releases it when the order is cancelled', async () => {
    const productId = await stocked(5);
    const order = auditOrder(productId, 2);
    const placed = await publish(orderPlaced, order);
    await processed('warehouse', placed.id);
    expect(await stock(productId)).toEqual({ on_hand: 5, reserved: 2, available: 3 });

    const before = duplicates('warehouse');
    const repeat = await publish(orderPlaced, order); // a new event id for the same order: stale
    await publishProbe(platform.transport().publisher, orderPlaced as Topic<unknown>, placed); // the same event again: a duplicate
    await waitFor('the duplicate to be dropped', () => duplicates('warehouse') > before, 30_000);
    await processed('warehouse', repeat.id);
    const { rows: reservations } = await db().query('SELECT line_no, requested, reserved, event_id FROM warehouse.reservations WHERE order_id = $1', [order.id]);
    expect(reservations).toEqual([{ line_no: 0, requested: 2, reserved: 2, event_id: placed.id }]);
    expect(await stock(productId)).toEqual({ on_hand: 5, reserved: 2, available: 3 });

    const cancel: OrderStatusChanged = { id: order.id, status: 'cancelled', previousStatus: 'pending', reason: 'customer-request', version: 2, changedAt: new Date().toISOString() };
    await processed('warehouse', (await publish(orderStatusChanged, cancel)).id);
    expect(await stock(productId)).toEqual({ on_hand: 5, reserved: 0, available: 5 });
    await processed('warehouse', (await publish(orderStatusChanged, cancel)).id); // cancelled again: nothing more
    expect(await stock(productId)).toEqual({ on_hand: 5, reserved: 0, available: 5 });
    expect((await stockEvents(productId)).map((event) => event.reason)).toEqual(['received', 'reserved', 'released']);
    // cached stock view follows
    expect((await cachedGet<StockView>(`/warehouse/stock/${productId}`)).body).toMatchObject({ onHand: 5, reserved: 0, available: 5 });
  });

  it('reserves what is available, ships from the reservation, and restocks resellable returns', async () => {
    const productId = await stocked(4);
    const order = auditOrder(productId, 6); // more than there is: 4 reserved
    await processed('warehouse', (await publish(orderPlaced, order)).id);
    expect(await db().query<{ requested: number; reserved: number }>('SELECT requested, reserved FROM warehouse.reservations WHERE order_id = $1', [order.id]).then((r) => r.rows)).toEqual([{ requested: 6, reserved: 4 }]);
    expect(await stock(productId)).toEqual({ on_hand: 4, reserved: 4, available: 0 });
    await cachedGet<StockView>(`/warehouse/stock/${productId}`); // cached before the shipment

    const shipment: FulfillmentStatusChanged = {
      id: randomUUID(), orderId: order.id, warehouseId: DEFAULT_WAREHOUSE_ID, status: 'shipped', lines: [{ productId, quantity: 3 }], version: 4, changedAt: new Date().toISOString(),
    };
    await processed('warehouse', (await publish(fulfillmentStatusChanged, shipment)).id);
    expect(await stock(productId)).toEqual({ on_hand: 1, reserved: 1, available: 0 });
    await processed('warehouse', (await publish(fulfillmentStatusChanged, { ...shipment, version: 5 })).id); // shipped again: once per fulfillment
    expect(await stock(productId)).toEqual({ on_hand: 1, reserved: 1, available: 0 });
    expect(await cachedGet<StockView>(`/warehouse/stock/${productId}`)).toMatchObject({ cache: 'miss', body: { onHand: 1, reserved: 1, available: 0 } });

    // shipping more than reserved and available would take stock below 0: dead-lettered, nothing changed
    const tooMany = await publish(fulfillmentStatusChanged, { ...shipment, id: randomUUID(), lines: [{ productId, quantity: 5 }] });
    const letter = await deadLetter('warehouse', tooMany.id);
    expect(letter).toMatchObject({ reason: 'permanent' });
    expect(letter.error_message).toContain(productId);
    expect(await stock(productId)).toEqual({ on_hand: 1, reserved: 1, available: 0 });

    const received = { id: randomUUID(), orderId: order.id, warehouseId: DEFAULT_WAREHOUSE_ID, version: 1, receivedAt: new Date().toISOString(),
      lines: [{ productId, quantity: 2, condition: 'resellable' as const }, { productId, quantity: 1, condition: 'damaged' as const }] };
    await processed('warehouse', (await publish(returnReceived, received)).id);
    await processed('warehouse', (await publish(returnReceived, { ...received, version: 2 })).id); // received once
    expect(await stock(productId)).toEqual({ on_hand: 3, reserved: 1, available: 2 });
    expect((await stockEvents(productId)).map((event) => [event.reason, event.onHand, event.reserved, event.available])).toEqual([
      ['received', 4, 0, 4], ['reserved', 4, 4, 0], ['shipped', 1, 1, 0], ['returned', 3, 1, 2],
    ]);
    const { rows: movements } = await db().query<{ reason: string; source: string }>('SELECT reason, source FROM warehouse.movements WHERE product_id = $1 ORDER BY id', [productId]);
    expect(movements.map((row) => [row.reason, row.source])).toEqual([
      ['received', 'api'], ['reserved', 'order.order.placed'], ['shipped', 'fulfillment.fulfillment.status-changed'], ['returned', 'return.return.received'],
    ]);
  });

  it('releases a cancelled fulfillment\'s units, and reserves nothing for an order cancelled before its placement arrived', async () => {
    const productId = await stocked(5);
    const order = auditOrder(productId, 3);
    await processed('warehouse', (await publish(orderPlaced, order)).id);
    const cancelled: FulfillmentStatusChanged = {
      id: randomUUID(), orderId: order.id, warehouseId: DEFAULT_WAREHOUSE_ID, status: 'cancelled', lines: [{ productId, quantity: 2 }], version: 2, changedAt: new Date().toISOString(),
    };
    await processed('warehouse', (await publish(fulfillmentStatusChanged, cancelled)).id);
    expect(await stock(productId)).toEqual({ on_hand: 5, reserved: 1, available: 4 });

    const early = auditOrder(productId, 2);
    const cancel: OrderStatusChanged = { id: early.id, status: 'cancelled', previousStatus: 'pending', version: 2, changedAt: new Date().toISOString() };
    await processed('warehouse', (await publish(orderStatusChanged, cancel)).id);
    await processed('warehouse', (await publish(orderPlaced, early)).id);
    expect((await db().query('SELECT 1 FROM warehouse.reservations WHERE order_id = $1', [early.id])).rowCount).toBe(0);
    expect(await stock(productId)).toEqual({ on_hand: 5, reserved: 1, available: 4 });
  });

  it('holds an order line for a product Warehouse does not know, then dead-letters it naming the product', async () => {
    const unknown = randomUUID();
    const event = await publish(orderPlaced, auditOrder(unknown, 1));
    const letter = await deadLetter('warehouse', event.id);
    expect(letter).toMatchObject({ reason: 'retries_exhausted', attempts: 4 });
    expect(letter.error_message).toContain(`product ${unknown} is unknown to Warehouse`);
    expect(letter.error_message).toContain('held 4 attempts');
  });

  it('keeps Location\'s units per warehouse, and holds then dead-letters stock at a location it does not have', async () => {
    const productId = await stocked(8);
    await waitFor('Location to keep the stock', async () => (await db().query<{ on_hand: number }>('SELECT on_hand FROM location.stock WHERE product_id = $1', [productId])).rows[0]?.on_hand === 8, 30_000);
    const nowhere = randomUUID();
    const event = await publish(stockChangedTopic(), {
      productId, warehouseId: nowhere, onHand: 1, reserved: 0, available: 1, reason: 'received', version: 1, changedAt: new Date().toISOString(),
    });
    const letter = await deadLetter('location', event.id);
    expect(letter.error_message).toBe(`stock of product ${productId} at unknown location ${nowhere}: held 4 attempts, Location has no such location`);
  });

  function stockChangedTopic() {
    return warehouseModule.publishes[0] as Topic<{ productId: string; warehouseId: string; onHand: number; reserved: number; available: number; reason: 'received'; version: number; changedAt: string }>;
  }

  /** The audit's handle on this platform's API. */
  const api = {
    async request(_service: string, method: string, path: string, body?: unknown) {
      const response = await fetch(`${platform.platform().url}${path}`, {
        method, headers: body === undefined ? undefined : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) }; // eslint-disable-line @typescript-eslint/no-unsafe-assignment
    },
  };

  const modules = [catalogModule, pricingModule, warehouseModule, promotionModule, locationModule];

  for (const module of modules) {
    it(`${module.name}'s produce probe writes an event its subscribers consume`, async () => {
      const { topic, key } = await module.audit!.produce!.run(api);
      let eventId: string | undefined;
      await waitFor('the probe\'s outbox row', async () => {
        ({ rows: [{ event_id: eventId } = { event_id: undefined }] } = await db().query(`SELECT event_id FROM ${module.name}.outbox WHERE topic = $1 AND partition_key = $2 ORDER BY id DESC LIMIT 1`, [topic.name, key]));
        return eventId !== undefined;
      }, 10_000);
      const running = topic.subscribers.filter((name) => modules.some((m) => m.name === name));
      if (running.length === 0) return; // its only subscribers (Fulfillment for locations) are not part of this test
      await waitFor(`one of ${running.join(', ')} to consume ${topic.name}`, async () => {
        for (const name of running) if ((await db().query(`SELECT 1 FROM ${name}.processed_events WHERE event_id = $1`, [eventId])).rowCount === 1) return true;
        return false;
      }, 30_000);
    });

    it(`${module.name}'s consume probe: applied once, a duplicate changes nothing, schema-invalid and failing events are dead-lettered`, async () => {
      const probe = module.audit!.consume!;
      const data: unknown = await probe.valid(api);
      expect(await probe.effects(db(), data)).toBe(0);
      const event = probeEnvelope(probe.topic, data);
      await publishProbe(platform.transport().publisher, probe.topic, event);
      await processed(module.name, event.id);
      expect(await probe.effects(db(), data)).toBe(1);

      const before = duplicates(module.name);
      await publishProbe(platform.transport().publisher, probe.topic, event);
      await waitFor('the duplicate to be dropped', () => duplicates(module.name) > before, 30_000);
      expect(await probe.effects(db(), data)).toBe(1);

      const required = (probe.topic.schema as { required: string[] }).required[0]!;
      const { [required]: _removed, ...broken } = (await probe.valid(api)) as Record<string, unknown>;
      const invalid = probeEnvelope(probe.topic, broken);
      await publishProbe(platform.transport().publisher, probe.topic, invalid);
      expect(await deadLetter(module.name, invalid.id)).toMatchObject({ reason: 'schema_invalid', attempts: 1 });

      const failing = probeEnvelope(probe.topic, await probe.failing(api));
      await publishProbe(platform.transport().publisher, probe.topic, failing);
      const letter = await deadLetter(module.name, failing.id);
      expect(['permanent', 'retries_exhausted']).toContain(letter.reason);
    });

    if (module.audit?.cache) {
      it(`${module.name}'s cache probe: a cached read is rebuilt after the change elsewhere`, async () => {
        const { service, path, change, changed } = await module.audit!.cache!.prepare(api);
        expect(service).toBe(module.name);
        const first = await cachedGet(path);
        expect(first.status).toBe(200);
        expect(changed(first.body)).toBe(false);
        expect((await cachedGet(path)).cache).toBe('hit');
        await change();
        let seen: { cache: string | null } | undefined;
        await waitFor('the change in the cached read', async () => {
          const reply = await cachedGet(path);
          seen = reply;
          return changed(reply.body);
        }, 30_000);
        expect(seen!.cache).toBe('miss');
      });
    }
  }

  it('reported no background error', () => {
    expect(platform.errors).toEqual([]);
  });
});
