import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import type { PlatformProcess } from '../support/platform-process.js';
import { waitFor } from '../support/servers.js';

/**
 * The end-to-end cases, run against a whole platform in a child process
 * (platform/main.ts): once on PostgreSQL + Redis Streams + Redis caches, once on the embedded
 * default. Everything goes through the public HTTP API and the `datasync` CLI, as a user's would;
 * the database is read only to find what no API shows (replica versions of other services).
 */

interface Product { id: string; sku: string; name: string; version: number }
interface ProductView { id: string; sku: string; name: string; description?: string; price: { amount: string; currency: string } | null; stock: { available: number } | null; version: number }

let skuCounter = 0;
function freshSku(): string {
  skuCounter += 1;
  return `E2E-${Date.now().toString(36).toUpperCase()}-${skuCounter}`;
}

/** Runs `items` through `work` with at most `limit` at once. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/** Declares the scenario tests for `platform` (inside a describe that started it). */
export function platformScenarios(platform: PlatformProcess, env: () => Record<string, string>): void {
  it('a product created in Catalog reaches Search, the Gateway and Analytics', async () => {
    const sku = freshSku();
    const created = await platform.call<Product>('POST', '/catalog/products', { sku, name: 'Whistling Kettle', description: 'A copper kettle that sings.' });
    expect(created.status).toBe(201);
    const id = created.body.id;
    await platform.call('PUT', `/pricing/prices/${id}`, { amount: '19.99', currency: 'EUR' });
    await platform.call('POST', `/warehouse/stock/${id}/adjust`, { delta: 7, reason: 'received' });

    await waitFor('the product in Search', async () => {
      const found = await platform.call<{ results: { id: string }[] }>('GET', '/search?q=singing%20OR%20sings');
      return found.body.results.some((hit) => hit.id === id);
    }, 30_000);
    let view: ProductView | undefined;
    await waitFor('the product with price and stock at the Gateway', async () => {
      const reply = await platform.call<ProductView>('GET', `/products/${id}`);
      view = reply.body;
      return reply.status === 200 && view.price?.amount === '19.99' && view.stock?.available === 7;
    }, 30_000);
    expect(view).toMatchObject({ id, sku, name: 'Whistling Kettle', description: 'A copper kettle that sings.', price: { amount: '19.99', currency: 'EUR' }, stock: { available: 7 }, version: 1 });
    await waitFor('Analytics to count the product', async () => {
      const { rows } = await platform.db().query('SELECT 1 FROM analytics.processed_events WHERE consumer = $1 AND topic = $2 AND event_id IN (SELECT event_id FROM catalog.outbox WHERE partition_key = $3)', ['analytics', 'catalog.product.created', id]);
      return rows.length === 1;
    }, 30_000);
  });

  it('a price change reaches the Gateway, and the stale cached view is gone', async () => {
    const created = await platform.call<Product>('POST', '/catalog/products', { sku: freshSku(), name: 'Tea Strainer' });
    const id = created.body.id;
    await platform.call('PUT', `/pricing/prices/${id}`, { amount: '4.50', currency: 'EUR' });
    await waitFor('the first price at the Gateway', async () => (await platform.call<ProductView>('GET', `/products/${id}`)).body.price?.amount === '4.50', 30_000);
    const cached = await platform.call<ProductView>('GET', `/products/${id}`);
    expect(cached.headers!.get('x-cache')).toBe('hit');

    expect((await platform.call('PUT', `/pricing/prices/${id}`, { amount: '5.25', currency: 'EUR' })).status).toBe(200);
    const seen: string[] = [];
    await waitFor('the new price at the Gateway', async () => {
      const reply = await platform.call<ProductView>('GET', `/products/${id}`);
      seen.push(`${reply.body.price?.amount}/${reply.headers!.get('x-cache')}`);
      return reply.body.price?.amount === '5.25';
    }, 30_000);
    // once the new price was served, the old one never comes back: the cached view was dropped
    for (let i = 0; i < 20; i += 1) {
      const reply = await platform.call<ProductView>('GET', `/products/${id}`);
      expect(reply.body.price?.amount, seen.join(' ')).toBe('5.25');
    }
  });

  it('1,000 concurrent updates to one product leave every replica at the owner\'s final version', async () => {
    const created = await platform.call<Product>('POST', '/catalog/products', { sku: freshSku(), name: 'Contended Product' });
    const id = created.body.id;
    const updates = Array.from({ length: 1_000 }, (_, i) => i);
    const statuses = new Map<number, number>();
    await inParallel(updates, 50, async (i) => {
      const reply = await platform.call('PUT', `/catalog/products/${id}`, { name: `Contended Product ${i}` });
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
    });
    expect(Object.fromEntries(statuses)).toEqual({ 200: 1_000 });
    const { rows: [owner] } = await platform.db().query<{ version: number; name: string }>('SELECT version, name FROM catalog.products WHERE id = $1', [id]);
    expect(owner!.version).toBe(1_001);

    // every service that keeps a copy of products, and the column of its product id
    const replicas = { search: 'id', warehouse: 'id', order: 'product_id', promotion: 'id', review: 'id' } as const;
    const behind: string[] = [];
    await waitFor('every replica at the final version', async () => {
      behind.length = 0;
      for (const [schema, column] of Object.entries(replicas)) {
        const { rows } = await platform.db().query<{ version: number }>(`SELECT max(version)::int AS version FROM "${schema}".products WHERE ${column}::text = $1`, [id]);
        if (rows[0]?.version !== owner!.version) behind.push(`${schema} at ${rows[0]?.version}`);
      }
      if (behind.length > 0) return false;
      const gateway = await platform.call<ProductView>('GET', `/products/${id}`);
      return gateway.body.version === owner!.version && gateway.body.name === owner!.name;
    }, 90_000);
  });

  it('datasync audit verifies every applicable cell of the seed\'s table', async () => {
    const run = await runCli(['audit', '--database', platform.databaseUrl(), '--json'], env(), 240_000);
    const report = JSON.parse(run.stdout || '{}') as { ok: boolean; rows: { service: string; cells: Record<string, { status: string; evidence: string }> }[] };
    const problems = (report.rows ?? []).flatMap((row) => Object.entries(row.cells).filter(([, cell]) => cell.status !== 'pass' && cell.status !== 'na').map(([column, cell]) => `${row.service}.${column}: ${cell.evidence}`));
    expect(problems, run.stderr).toEqual([]);
    expect(run.code, run.stderr).toBe(0);
    expect(report.rows.map((row) => row.service)).toHaveLength(20);
    // N/A only where the seed has N/A: every cell the seed fills is verified
    const seedFilled: Record<string, string[]> = { catalog: ['producer', 'consumer', 'idempotency', 'schema', 'cache', 'dlq'], search: ['producer', 'consumer', 'idempotency', 'schema', 'cache', 'dlq'], gateway: ['producer', 'consumer'] };
    for (const [service, columns] of Object.entries(seedFilled)) {
      const row = report.rows.find((r) => r.service === service)!;
      for (const column of columns) expect(row.cells[column]!.status, `${service}.${column}`).toBe('pass');
    }
  }, 300_000);

  it('datasync check passes on the real contracts and fails on a planted misaligned topic', async () => {
    const ok = await runCli(['check'], env());
    expect(ok.code, ok.stderr).toBe(0);
    const dir = await mkdtemp(path.join(process.cwd(), '.e2e-contracts-'));
    try {
      const planted = path.join(dir, 'contracts.ts');
      await writeFile(planted, `
import { platformContracts, platformServices, productCreated } from '../platform/contracts/index.ts';
export const contracts = platformContracts;
// the seed's alignment bug: Search subscribing to 'product.created' while Catalog publishes 'catalog.product.created'
export const services = platformServices.map((service) => service.name !== 'search' ? service
  : { ...service, subscribes: [...service.subscribes.filter((topic) => topic !== productCreated), { ...productCreated, name: 'product.created' }] });
`);
      const bad = await runCli(['check', '--contracts', planted, '--lock', path.join(process.cwd(), 'platform/contracts/schemas.lock.json')], env());
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/product\.created/);
      expect(bad.stdout).toMatch(/SUBSCRIPTION_WITHOUT_PRODUCER|UNDECLARED_TOPIC_SUBSCRIBED/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
