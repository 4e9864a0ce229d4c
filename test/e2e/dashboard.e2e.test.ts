import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Transport } from 'datasync';
import { connectTransport } from 'datasync/transports';
import { probeEnvelope } from '../../platform/audit/publish.js';
import { productCreated, type Product } from '../../platform/contracts/catalog.js';
import { usePlatformProcess } from '../support/platform-process.js';
import { freePort } from '../support/ports.js';
import { describeWithServers } from '../support/servers.js';
import { describeWithTools, toolPath } from '../support/tools.js';

/**
 * The built-in dashboard in a real browser (Debian's Chromium driven by playwright-core), against
 * the whole platform in a child process with its workload running: the page loads, its figures
 * move without a reload, and a dead letter made the way production makes one (a price of a
 * product Search does not have: held, retried, dead-lettered) is replayed from the page, through
 * the confirmation dialog, once its cause is gone, and the platform reports it applied.
 * Screenshots of every view go to test-artifacts/dashboard/<view>.png.
 */

const SCREENSHOTS = path.resolve('test-artifacts/dashboard');
/** The page's views: the ids of its sections, in order. */
const VIEWS = ['overview', 'topology', 'latency', 'throughput', 'outbox', 'dead-letters', 'health', 'participation'] as const;
/** Chromium as root on a closed network (the machine notes): no sandbox, no background traffic. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/**
 * Workload requests a second: enough to move every figure, and few enough that Search keeps up
 * on a 2-core machine, so the dead letter below arrives in seconds (at 20 a second, with other
 * work on the machine, Search fell a minute behind).
 */
const WORKLOAD_RATE = 5;

/** The dashboard's port, `--admin-port` of the platform (bound and released: free now). */
const ADMIN_PORT = await freePort();

interface ProductView { id: string; price: { amount: string } | null }

/**
 * Polls `check` every `everyMs` until it holds; past `timeoutMs` fails naming `what` and, from
 * `seen`, what was last seen. Slower than servers.ts's waitFor: most checks here are HTTP calls
 * to a platform that is busy with its workload.
 */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, seen: () => string = () => '', everyMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      const last = seen();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last seen: ${last}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

describeWithServers(['postgres'], 'the dashboard in a browser', () => {
  describeWithTools(['chromium'], 'the dashboard (--admin-port) of the platform with a workload', () => {
    const platform = usePlatformProcess('e2e_dashboard', { args: ['--rate', String(WORKLOAD_RATE), '--admin-port', String(ADMIN_PORT)] });
    let dashboardUrl = '';
    let browser: Browser | undefined;
    let page: Page;
    let transport: Transport | undefined;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      const announced = /^\s+dashboard\s+(http:\/\/127\.0\.0\.1:\d+)/;
      await until('the platform to print the dashboard URL', async () => platform.output.some((line) => announced.test(line)), 30_000, () => platform.output.slice(-5).join('\n'));
      dashboardUrl = platform.output.map((line) => announced.exec(line)).find(Boolean)![1]!;
      await mkdir(SCREENSHOTS, { recursive: true });
      browser = await chromium.launch({ executablePath: toolPath('chromium'), args: CHROMIUM_ARGS });
      page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      page.setDefaultTimeout(15_000);
      page.on('pageerror', (error) => pageErrors.push(String(error)));
      transport = await connectTransport('postgres', { databaseUrl: platform.databaseUrl() });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await transport?.close();
    });

    /** A figure of the page as a number ("1,234" → 1234, "12.5/s" → 12.5). */
    async function figure(testId: string): Promise<number> {
      const text = await page.getByTestId(testId).textContent();
      return Number((text ?? '').replace(/[^\d.]/g, ''));
    }

    /** What Search settled the event as, oldest first (the platform remembers each consumer's recent settles). */
    async function searchOutcomes(eventId: string): Promise<string[]> {
      const reply = await platform.call<{ outcomes: string[] }>('GET', `/platform/consumers/search/events/${eventId}`);
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      return reply.body.outcomes;
    }

    it('loads, and its figures move while the workload runs', async () => {
      expect(dashboardUrl).toBe(`http://127.0.0.1:${ADMIN_PORT}`);
      await page.goto(dashboardUrl);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('datasync');
      await until('the first overview on the page', async () => (await page.getByTestId('last-updated').textContent()) !== 'never', 15_000);

      await until('events published a second above 0', async () => (await figure('published-rate')) > 0, 30_000, () => 'published-rate 0');
      const first = await figure('settled-total');
      const firstUpdate = await page.getByTestId('last-updated').getAttribute('datetime');
      let latest = first;
      await until('the settled figure to grow', async () => (latest = await figure('settled-total')) > first, 20_000, () => `${first} → ${latest}`);
      expect(await page.getByTestId('last-updated').getAttribute('datetime')).not.toBe(firstUpdate);
      expect(await page.getByTestId('p95').textContent()).toMatch(/\d/);
      expect(await page.getByTestId('error-banner').isHidden()).toBe(true);
      expect(await page.locator('#topology-graph svg .node.topic').count()).toBeGreaterThan(10);
      expect(pageErrors).toEqual([]);
    }, 60_000);

    it('saves a screenshot of every view', async () => {
      // the sticky header would cover the top of each section's picture
      await page.addStyleTag({ content: 'header.top { position: static !important; }' });
      for (const view of VIEWS) {
        await page.locator(`#${view}`).screenshot({ path: path.join(SCREENSHOTS, `${view}.png`) });
      }
    }, 60_000);

    it('replays a dead letter from the page, and Search applies it once its cause is gone', async () => {
      // A price of a product Search has never seen: Search holds it, retries, then dead-letters it.
      const productId = randomUUID();
      const priced = await platform.call('PUT', `/pricing/prices/${productId}`, { amount: '7.25', currency: 'EUR' });
      expect(priced.status, JSON.stringify(priced.body)).toBe(200);
      const { rows: [published] } = await platform.db().query<{ event_id: string }>(
        'SELECT event_id::text FROM pricing.outbox WHERE topic = $1 AND partition_key = $2', ['pricing.price.updated', productId],
      );
      const eventId = published!.event_id;
      let outcomes: string[] = [];
      const searchSaw = (): string => `Search's outcomes for event ${eventId}: [${outcomes.join(', ')}]`;
      await until('Search to dead-letter the price', async () => (outcomes = await searchOutcomes(eventId)).includes('dead_lettered'), 45_000, searchSaw);

      // The page lists it (newest first) with its failure context.
      const row = page.locator(`[data-testid="dlq-row"][data-consumer="search"][data-event-id="${eventId}"]`);
      await until('the dead letter on the page', async () => {
        if ((await row.count()) === 1) return true;
        await page.getByRole('button', { name: 'Refresh' }).click();
        return false;
      }, 20_000, undefined, 1_000);
      expect(await row.getAttribute('data-status')).toBe('pending');
      const letterId = (await row.getAttribute('data-id'))!;
      expect(await row.textContent()).toContain('retries_exhausted');
      expect(await row.textContent()).toContain(`Search has no product ${productId}`);
      await row.locator('details.event summary').click();
      expect(await row.locator('details.event pre').textContent()).toContain(productId);

      // The cause goes: Catalog's catalog.product.created for that id reaches Search.
      const product: Product = {
        id: productId, sku: `DASH-${productId.slice(0, 8).toUpperCase()}`, name: 'Dashboard kettle', category: 'kitchen',
        status: 'active', version: 1, updatedAt: new Date().toISOString(),
      };
      await transport!.publisher.publish(productCreated.name, [probeEnvelope(productCreated, product)]);
      await until('the product in Search', async () => (await platform.call('GET', `/search/products/${productId}`)).status === 200, 30_000);

      // Replay from the page: the row's button, then the dialog's.
      await row.getByRole('button', { name: 'Replay' }).click();
      const dialog = page.getByTestId('confirm-dialog');
      await dialog.waitFor({ state: 'visible' });
      expect(await dialog.textContent()).toContain(eventId);
      await page.screenshot({ path: path.join(SCREENSHOTS, 'replay-dialog.png') });
      await dialog.getByRole('button', { name: 'Replay dead letter' }).click();
      await dialog.waitFor({ state: 'hidden' });

      await until('the row to show the letter replayed', async () => (await row.getAttribute('data-status')) === 'replayed', 10_000);
      const action = page.locator(`[data-testid="action-row"][data-action="dlq.replay"][data-target="search.dead_letters/${letterId}"]`);
      await action.waitFor();
      expect(await action.textContent()).toContain('dashboard@');

      // The platform applied it: Search's last outcome for the event, and the price in its view.
      await until('Search to apply the replayed event', async () => (outcomes = await searchOutcomes(eventId)).at(-1) === 'applied', 30_000, searchSaw);
      expect(outcomes).toContain('dead_lettered');
      let view: ProductView | undefined;
      await until('the price in Search', async () => {
        view = (await platform.call<ProductView>('GET', `/search/products/${productId}`)).body;
        return view.price?.amount === '7.25';
      }, 15_000, () => JSON.stringify(view));
      await page.locator('#dead-letters').screenshot({ path: path.join(SCREENSHOTS, 'dead-letters-after-replay.png') });
      expect(pageErrors).toEqual([]);
    }, 150_000);
  });
});
