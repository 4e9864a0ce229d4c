import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { AnyTopic } from 'datasync/core';
import { probeEnvelope, publishProbe } from '../../platform/audit/publish.js';
import { runAudit } from '../../platform/audit/audit.js';
import { orderPlaced, type OrderPlaced } from '../../platform/contracts/order.js';
import { priceUpdated } from '../../platform/contracts/pricing.js';
import { analyticsModule } from '../../platform/services/analytics/index.js';
import { catalogModule } from '../../platform/services/catalog/index.js';
import { cmsModule } from '../../platform/services/cms/index.js';
import { gatewayModule } from '../../platform/services/gateway/index.js';
import { notificationModule } from '../../platform/services/notification/index.js';
import { pricingModule } from '../../platform/services/pricing/index.js';
import { searchModule } from '../../platform/services/search/index.js';
import { warehouseModule } from '../../platform/services/warehouse/index.js';
import { useInProcessPlatform } from '../support/platform-harness.js';
import { POSTGRES_URL, describeWithServers, waitFor } from '../support/servers.js';

// The platform's read side in one process (own database, postgres transport, in-process
// caches): Catalog, Pricing and Warehouse own the data; Search keeps a copy with price and
// stock and tells the Gateway, whose cache serves product pages; Analytics counts; the CMS
// publishes pages Search indexes. Changes go through the owners' HTTP APIs, probe events
// straight onto the transport as the owner would publish them (platform/audit/publish.ts).

interface View {
  id: string; sku: string; name: string; description: string | null;
  price: { amount: string; currency: string } | null; stock: { available: number } | null; version: number; viewVersion: number;
}
interface Reply<T> { status: number; headers: Headers; body: T }

describeWithServers(['postgres'], 'read side: Search, the Gateway cache, Analytics and the CMS', () => {
  const platform = useInProcessPlatform('platform_read', () => [
    // Notification subscribes to the system errors Analytics produces, so its producer probe can see one consumed
    catalogModule, pricingModule, warehouseModule, searchModule, gatewayModule, analyticsModule, cmsModule, notificationModule,
  ]);

  /** A request with the response headers (x-cache, x-session-id). */
  async function request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const response = await fetch(`${platform.platform().url}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  let skus = 0;
  async function createProduct(fields: { description?: string } = {}): Promise<string> {
    skus += 1;
    const reply = await request<{ id: string }>('POST', '/catalog/products', { sku: `READ-${Date.now().toString(36).toUpperCase()}-${skus}`, name: `Kettle ${skus}`, ...fields });
    expect(reply.status).toBe(201);
    return reply.body.id;
  }

  async function searchView(id: string, ready: (view: View) => boolean = () => true): Promise<View> {
    let view: View | undefined;
    await waitFor(`Search's view of ${id}`, async () => {
      const reply = await request<View>('GET', `/search/products/${id}`);
      view = reply.status === 200 ? reply.body : undefined;
      return view !== undefined && ready(view);
    }, 20_000);
    return view!;
  }

  async function gatewayView(id: string, ready: (view: View) => boolean = () => true): Promise<Reply<View>> {
    let reply: Reply<View> | undefined;
    await waitFor(`the Gateway's view of ${id}`, async () => {
      reply = await request<View>('GET', `/products/${id}`);
      return reply.status === 200 && ready(reply.body);
    }, 20_000);
    return reply!;
  }

  /** Waits until the Gateway applied an invalidation of the product for `cause` at the owner's version `sourceVersion`. */
  async function gatewayInvalidated(productId: string, cause: string, sourceVersion: number): Promise<void> {
    await waitFor(`the Gateway's invalidation of ${productId} (${cause} ${sourceVersion})`, async () => {
      const { rows } = await platform.db().query('SELECT 1 FROM gateway.invalidations WHERE product_id = $1 AND cause = $2 AND source_version = $3', [productId, cause, sourceVersion]);
      return rows.length > 0;
    }, 20_000);
  }

  async function publish(topic: AnyTopic, data: unknown): Promise<string> {
    const event = probeEnvelope(topic, data);
    await publishProbe(platform.transport().publisher, topic, event);
    return event.id;
  }

  async function deadLetter(schema: string, eventId: string, timeoutMs = 20_000): Promise<{ reason: string; attempts: number; error_message: string }> {
    let letter: { reason: string; attempts: number; error_message: string } | undefined;
    await waitFor(`a dead letter of ${eventId} in ${schema}`, async () => {
      const { rows } = await platform.db().query<{ reason: string; attempts: number; error_message: string }>(
        `SELECT reason, attempts, error_message FROM ${schema}.dead_letters WHERE event_id = $1`, [eventId]);
      letter = rows[0];
      return letter !== undefined;
    }, timeoutMs);
    return letter!;
  }

  async function processed(schema: string, eventId: string): Promise<void> {
    await waitFor(`${schema} to process ${eventId}`, async () => (await platform.db().query(`SELECT 1 FROM ${schema}.processed_events WHERE event_id = $1`, [eventId])).rows.length > 0);
  }

  function order(fields: Partial<OrderPlaced> = {}): OrderPlaced {
    return {
      id: randomUUID(), customerId: randomUUID(), email: 'ada.lovelace@example.com', status: 'pending', currency: 'EUR',
      lines: [{ productId: randomUUID(), sku: 'KET-1', quantity: 2, unitPrice: '19.99' }],
      subtotal: '39.98', discountTotal: '5', shippingTotal: '4.95', taxTotal: '7.60', total: '47.53',
      shippingAddress: { line1: '12 Analytical Row', city: 'London', postalCode: 'W1 1AA', country: 'GB', recipientName: 'Ada Lovelace' },
      checkoutId: randomUUID(), version: 1, placedAt: new Date().toISOString(), ...fields,
    };
  }

  it('carries a new product with its description to Search (view and full text), the Gateway and Analytics', async () => {
    const id = await createProduct({ description: 'Whistles politely when the water boils' });
    const view = await searchView(id);
    expect(view.name).toMatch(/^Kettle/);
    expect(view).toMatchObject({ id, description: 'Whistles politely when the water boils', price: null, stock: null, version: 1 });
    expect(view.viewVersion).toBeGreaterThan(Date.now() - 60_000); // a hybrid logical clock in ms
    const found = await request<{ results: { id: string }[]; pages: unknown[] }>('GET', '/search?q=politely');
    expect(found.status).toBe(200);
    expect(found.body.results.map((hit) => hit.id)).toContain(id);
    expect(found.body.pages).toEqual([]);

    const page = await gatewayView(id);
    expect(page.body).toEqual({ ...view });
    expect(page.headers.get('x-session-id')).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor('Analytics to count the product', async () => {
      const { rows } = await platform.db().query("SELECT 1 FROM analytics.facts WHERE kind = 'product_created' AND entity_id = $1", [id]);
      return rows.length === 1;
    });
    // the product page the Gateway served reached Analytics as a page view
    await waitFor('Analytics to count the product page view', async () => {
      const { rows } = await platform.db().query("SELECT 1 FROM analytics.facts WHERE kind = 'page_viewed' AND product_id = $1", [id]);
      return rows.length >= 1;
    });
    const summary = await request<{ days: { day: string; productsCreated: number; pageViews: number; topProductPages: { productId: string }[] }[] }>('GET', '/analytics/summary');
    const today = summary.body.days.at(-1)!;
    expect(today.day).toBe(new Date().toISOString().slice(0, 10));
    expect(today.productsCreated).toBeGreaterThanOrEqual(1);
    expect(today.topProductPages.map((p) => p.productId)).toContain(id);
  });

  it('shows a new price at the Gateway: the cached view is dropped (miss), then rebuilt and served from the cache (hit)', async () => {
    const id = await createProduct();
    expect((await request('PUT', `/pricing/prices/${id}`, { amount: '19.99', currency: 'EUR' })).status).toBe(200);
    await gatewayInvalidated(id, 'price', 1);
    const first = await gatewayView(id, (view) => view.price?.amount === '19.99');
    const cached = await request<View>('GET', `/products/${id}`);
    expect(cached.headers.get('x-cache')).toBe('hit');
    expect(cached.body).toEqual(first.body);

    expect((await request('PUT', `/pricing/prices/${id}`, { amount: '17.49', currency: 'EUR' })).status).toBe(200);
    await gatewayInvalidated(id, 'price', 2);
    const after = await request<View>('GET', `/products/${id}`);
    expect(after.headers.get('x-cache')).toBe('miss');
    expect(after.body.price).toEqual({ amount: '17.49', currency: 'EUR' });
    expect(after.body.viewVersion).toBeGreaterThan(first.body.viewVersion);
    const again = await request<View>('GET', `/products/${id}`);
    expect(again.headers.get('x-cache')).toBe('hit');
    expect(again.body).toEqual(after.body);
    // Search's own cache behaves the same way
    const searchFirst = await request<View>('GET', `/search/products/${id}`);
    const searchAgain = await request<View>('GET', `/search/products/${id}`);
    expect([searchFirst.body.price?.amount, searchAgain.headers.get('x-cache')]).toEqual(['17.49', 'hit']);
  });

  it('shows a stock change at the Gateway the same way, summed over warehouses', async () => {
    const id = await createProduct();
    expect((await request('POST', `/warehouse/stock/${id}/adjust`, { delta: 5, reason: 'received' })).status).toBe(200);
    await gatewayInvalidated(id, 'stock', 1);
    const first = await gatewayView(id, (view) => view.stock?.available === 5);
    expect((await request('GET', `/products/${id}`)).headers.get('x-cache')).toBe('hit');
    expect((await request('POST', `/warehouse/stock/${id}/adjust`, { delta: -2, reason: 'shipped' })).status).toBe(200);
    await gatewayInvalidated(id, 'stock', 2);
    const after = await request<View>('GET', `/products/${id}`);
    expect([after.headers.get('x-cache'), after.body.stock]).toEqual(['miss', { available: 3 }]);
    expect(after.body.viewVersion).toBeGreaterThan(first.body.viewVersion);
    expect((await request('GET', `/products/${id}`)).headers.get('x-cache')).toBe('hit');
  });

  it('drops a deleted product: Search and the Gateway answer 404 with a JSON error', async () => {
    const id = await createProduct();
    await gatewayView(id);
    expect((await request('DELETE', `/catalog/products/${id}`)).status).toBe(204);
    await waitFor('the Gateway to forget the deleted product', async () => (await request('GET', `/products/${id}`)).status === 404);
    const gone = await request<{ error: { code: string; field: string } }>('GET', `/search/products/${id}`);
    expect(gone).toMatchObject({ status: 404, body: { error: { code: 'PRODUCT_NOT_FOUND', field: 'id' } } });
    expect(await request('GET', `/products/${randomUUID()}`)).toMatchObject({ status: 404, body: { error: { code: 'PRODUCT_NOT_FOUND' } } });
    expect(await request('GET', '/products/not-a-uuid')).toMatchObject({ status: 400, body: { error: { field: 'id' } } });
    expect(await request('GET', `/products/${id}`, undefined, { 'x-session-id': 'nope' })).toMatchObject({ status: 400, body: { error: { field: 'x-session-id' } } });
    expect(await request('GET', '/search/products/nope')).toMatchObject({ status: 400, body: { error: { field: 'id' } } });
  });

  it('counts a redelivered order once, keeps no personal data, and refuses an order whose total does not add up', async () => {
    const placed = order();
    const event = probeEnvelope(orderPlaced, placed);
    await publishProbe(platform.transport().publisher, orderPlaced as AnyTopic, event);
    await processed('analytics', event.id);
    await publishProbe(platform.transport().publisher, orderPlaced as AnyTopic, event); // the same event again
    const second = await publish(orderPlaced, order({ total: '47.53', currency: 'EUR' }));
    await processed('analytics', second);
    const { rows } = await platform.db().query("SELECT to_jsonb(f)::text AS fact FROM analytics.facts f WHERE kind = 'order_placed' AND entity_id = $1", [placed.id]);
    expect(rows).toHaveLength(1);
    const everything = await platform.db().query<{ text: string }>('SELECT string_agg(to_jsonb(f)::text, \' \') AS text FROM analytics.facts f');
    for (const personal of ['ada.lovelace@example.com', 'Ada Lovelace', 'Analytical Row', 'W1 1AA']) expect(everything.rows[0]!.text).not.toContain(personal);
    const summary = await request<{ days: { ordersPlaced: number; revenue: Record<string, string> }[] }>('GET', '/analytics/summary');
    const today = summary.body.days.at(-1)!;
    expect(today.ordersPlaced).toBe(2);
    expect(today.revenue).toEqual({ EUR: '95.06' });

    const refused = await publish(orderPlaced, order({ total: '50.00' }));
    const letter = await deadLetter('analytics', refused);
    expect(letter).toMatchObject({ reason: 'permanent', attempts: 1 });
    expect(letter.error_message).toContain('total 50.00 is not subtotal − discount + shipping + tax');
    // and reported to Notification's intake through Analytics' outbox (the host reports every dead letter)
    const reported = async () => (await platform.db().query<{ data: Record<string, unknown> }>("SELECT envelope->'data' AS data FROM analytics.outbox WHERE topic = 'notification.system-error.reported' AND envelope->'data'->>'eventId' = $1", [refused])).rows;
    await waitFor('the dead letter reported', async () => (await reported()).length === 1, 10_000);
    expect((await reported())[0]!.data).toMatchObject({ service: 'analytics', code: 'DEAD_LETTERED', topic: 'order.order.placed' });
    expect((await reported())[0]!.data.message).toContain('total 50.00 is not subtotal');
  });

  it('dead-letters a schema-invalid event after one attempt', async () => {
    const { total: _total, ...withoutTotal } = order();
    const analyticsLetter = await deadLetter('analytics', await publish(orderPlaced, withoutTotal));
    expect(analyticsLetter).toMatchObject({ reason: 'schema_invalid', attempts: 1 });
    const now = new Date().toISOString();
    const searchLetter = await deadLetter('search', await publish(priceUpdated, { productId: randomUUID(), currency: 'EUR', amount: '-1', listAmount: '1', version: 1, effectiveFrom: now, updatedAt: now }));
    expect(searchLetter).toMatchObject({ reason: 'schema_invalid', attempts: 1 });
  });

  it('holds a price of a product Search does not have, retries it, then dead-letters it naming the product', async () => {
    const productId = randomUUID();
    const now = new Date().toISOString();
    const eventId = await publish(priceUpdated, { productId, currency: 'EUR', amount: '5', listAmount: '5', version: 1, effectiveFrom: now, updatedAt: now });
    const letter = await deadLetter('search', eventId, 30_000);
    expect(letter).toMatchObject({ reason: 'retries_exhausted', attempts: 4 });
    expect(letter.error_message).toContain(`Search has no product ${productId}`);
    const { rows } = await platform.db().query('SELECT 1 FROM search.prices WHERE product_id = $1', [productId]);
    expect(rows).toEqual([]);
  });

  it('never serves a client an older view than it served before, under concurrent updates and reads', async () => {
    const id = await createProduct();
    expect((await request('PUT', `/pricing/prices/${id}`, { amount: '1', currency: 'EUR' })).status).toBe(200);
    await gatewayView(id, (view) => view.price !== null);
    let writing = true;
    const clients = Array.from({ length: 4 }, async () => {
      const seen: number[] = [];
      const session = randomUUID();
      while (writing || seen.length < 5) {
        const reply = await request<View>('GET', `/products/${id}`, undefined, { 'x-session-id': session });
        if (reply.status === 200) seen.push(reply.body.viewVersion);
        else expect(reply.status).toBe(503); // SEARCH_BEHIND is allowed, an older view is not
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return seen;
    });
    const updates = 40;
    let lastPrice = '1';
    try {
      for (let i = 2; i <= updates + 1; i += 1) {
        if (i % 3 !== 0) lastPrice = String(i);
        const change = i % 3 === 0
          ? request('POST', `/warehouse/stock/${id}/adjust`, { delta: 1, reason: 'received' })
          : request('PUT', `/pricing/prices/${id}`, { amount: lastPrice, currency: 'EUR' });
        const [reply] = await Promise.all([change, request('PUT', `/catalog/products/${id}`, { name: `Kettle mark ${i}` })]);
        expect(reply.status).toBe(200);
      }
      // the clients go on reading until Search has applied every change
      await searchView(id, (view) => view.name === `Kettle mark ${updates + 1}` && view.price?.amount === lastPrice);
    } finally {
      writing = false;
    }
    const sequences = await Promise.all(clients);
    for (const seen of sequences) {
      expect(seen.length).toBeGreaterThan(0);
      for (let i = 1; i < seen.length; i += 1) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    }
    expect(new Set(sequences.flat()).size).toBeGreaterThan(1); // the clients did see the product change
    // and the Gateway converges on Search's final view
    const final = await searchView(id);
    await gatewayView(id, (view) => view.viewVersion === final.viewVersion && view.name === `Kettle mark ${updates + 1}`);
    expect(platform.errors.filter((line) => !line.includes('consuming'))).toEqual([]);
  });

  it('indexes CMS pages: searchable once published, gone once unpublished', async () => {
    const bad = await request('POST', '/cms/pages', { slug: 'Not A Slug', title: 'x', body: 'y' });
    expect(bad).toMatchObject({ status: 400, body: { error: { field: 'slug' } } });
    expect(await request('POST', '/cms/pages', { slug: 'x', body: 'y' })).toMatchObject({ status: 400, body: { error: { field: 'title' } } });
    const created = await request<{ id: string; version: number; status: string }>('POST', '/cms/pages', {
      slug: 'guides/descaling', title: 'Descaling your kettle', body: 'Vinegar and patience remove limescale.', tags: ['kettles'],
    });
    expect(created).toMatchObject({ status: 201, body: { version: 1, status: 'published' } });
    expect(await request('POST', '/cms/pages', { slug: 'guides/descaling', title: 'Again', body: 'z' })).toMatchObject({ status: 409, body: { error: { field: 'slug' } } });
    await waitFor('Search to index the page', async () => {
      const reply = await request<{ pages: { id: string }[] }>('GET', '/search?q=limescale');
      return reply.body.pages.some((page) => page.id === created.body.id);
    });
    expect((await request('DELETE', `/cms/pages/${created.body.id}`)).status).toBe(204);
    expect((await request('DELETE', `/cms/pages/${created.body.id}`)).status).toBe(404);
    await waitFor('Search to drop the page', async () => {
      const reply = await request<{ pages: { id: string }[] }>('GET', '/search?q=limescale');
      return !reply.body.pages.some((page) => page.id === created.body.id);
    });
  });

  it('answers bad Analytics input with a 400 naming the field, and raises an alert when a metric falls below its minimum', async () => {
    expect(await request('GET', '/analytics/summary?from=2026-02-30')).toMatchObject({ status: 400, body: { error: { field: 'from' } } });
    expect(await request('GET', '/analytics/summary?from=2026-03-02&to=2026-03-01')).toMatchObject({ status: 400, body: { error: { field: 'from' } } });
    expect(await request('POST', '/analytics/alerts/check', { metric: 'visits', minimum: 1, windowMinutes: 5 })).toMatchObject({ status: 400, body: { error: { field: 'metric' } } });
    const quiet = await request('POST', '/analytics/alerts/check', { metric: 'customersCreated', minimum: 1, windowMinutes: 5 });
    expect(quiet).toMatchObject({ status: 200, body: { count: 0, alert: { severity: 'warning', code: 'METRIC_BELOW_MINIMUM' } } });
    const fine = await request('POST', '/analytics/alerts/check', { metric: 'productsCreated', minimum: 1, windowMinutes: 60 });
    expect(fine).toMatchObject({ status: 200, body: { alert: null } });
  });

  it('passes the audit probes of Search, Analytics and the Gateway', async () => {
    const { rows: [database] } = await platform.db().query<{ name: string }>('SELECT current_database() AS name');
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database!.name}`;
    const report = await runAudit({ db: platform.db(), databaseUrl: url.toString(), services: ['search', 'analytics', 'gateway'], timeoutMs: 30_000 });
    const cells = Object.fromEntries(report.rows.map((row) => [row.service, Object.fromEntries(Object.entries(row.cells).map(([column, cell]) => [column, `${cell.status}: ${cell.evidence}`]))]));
    for (const row of report.rows) {
      for (const [column, cell] of Object.entries(row.cells)) expect(cell.status, `${row.service} ${column}: ${cell.evidence}`).toMatch(/^(pass|na)$/);
    }
    expect(cells.search!.cache).toMatch(/^pass/);
    expect(cells.gateway!.producer).toMatch(/^pass: storefront.page.viewed from the API → analytics processed it/);
  });
});
