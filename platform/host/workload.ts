/**
 * The demo workload of `npm start` (`--rate`, `--no-workload`): a shop's day through the
 * services' own HTTP APIs, so every change takes the path a real client's would. It keeps a
 * small catalog (creating, renaming and sometimes deleting products), changes prices and
 * stock, registers customers and places orders; most are paid (a payment, then the PSP's
 * capture webhook, so Order confirms them and Fulfillment starts), some declined. Refusals the APIs
 * give for good reason (an order for a product whose price has not reached Order yet, stock
 * that would go negative) are counted, not reported as errors.
 */
import { randomInt } from 'node:crypto';
import type { ServiceDirectory } from './module.js';

/** Configuration of {@link startWorkload}. */
export interface WorkloadConfig {
  readonly directory: ServiceDirectory;
  /** Changes a second. */
  readonly rate: number;
  /** Products the catalog hovers around; default 50. */
  readonly products?: number;
  /** A request that failed for a reason other than a refusal (a 5xx, a connection error). */
  readonly onError: (error: unknown) => void;
}

/** The running workload. */
export interface Workload {
  /** Requests made per kind, and `refused` (4xx answers). */
  stats(): Record<string, number>;
  /** Stops issuing requests and waits for those in flight. Idempotent. */
  stop(): Promise<void>;
}

const CURRENCY = 'EUR';
const NAMES = ['Kettle', 'Teapot', 'Mug', 'Toaster', 'Blender', 'Whisk', 'Ladle', 'Grinder', 'Skillet', 'Colander'];
const ADJECTIVES = ['Blue', 'Steel', 'Compact', 'Classic', 'Large', 'Ceramic', 'Copper', 'Matte'];

function pick<T>(items: readonly T[]): T {
  return items[randomInt(items.length)]!;
}

/** Starts issuing about `rate` requests a second until stopped. */
export function startWorkload(config: WorkloadConfig): Workload {
  const target = config.products ?? 50;
  const products: string[] = [];
  const customers: string[] = [];
  const counts: Record<string, number> = { products: 0, prices: 0, stock: 0, customers: 0, orders: 0, payments: 0, webhooks: 0, refused: 0 };
  const inFlight = new Set<Promise<void>>();
  let stopped = false;

  /** What the workload reads of an API's answer. */
  interface Reply { readonly id?: string; readonly total?: string; readonly currency?: string; readonly pspReference?: string }

  async function call(kind: string, service: string, method: string, path: string, body?: unknown): Promise<Reply | undefined> {
    const response = await config.directory.fetch(service, path, {
      method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status >= 500) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
    if (response.status >= 400) {
      counts.refused! += 1;
      return undefined;
    }
    counts[kind] = (counts[kind] ?? 0) + 1;
    return text === '' ? {} : (JSON.parse(text) as Reply);
  }

  async function createProduct(): Promise<void> {
    const sku = `WL-${Date.now().toString(36).toUpperCase()}-${randomInt(1_000_000)}`;
    const product = await call('products', 'catalog', 'POST', '/catalog/products', {
      sku, name: `${pick(ADJECTIVES)} ${pick(NAMES)}`, description: `A ${pick(ADJECTIVES).toLowerCase()} thing for the kitchen.`,
    });
    if (!product?.id) return;
    products.push(product.id);
    await call('prices', 'pricing', 'PUT', `/pricing/prices/${product.id}`, { amount: `${randomInt(3, 200)}.${randomInt(10, 99)}`, currency: CURRENCY });
    await call('stock', 'warehouse', 'POST', `/warehouse/stock/${product.id}/adjust`, { delta: randomInt(20, 200), reason: 'received' });
  }

  async function createCustomer(): Promise<void> {
    const n = randomInt(1_000_000_000);
    const customer = await call('customers', 'customer', 'POST', '/customers', {
      email: `shopper${n}@example.com`, firstName: 'Sam', lastName: `Shopper${n % 1000}`,
      defaultAddress: { line1: `${randomInt(1, 200)} Market Street`, city: 'Berlin', postalCode: '10115', country: 'DE' },
    });
    if (customer?.id) customers.push(customer.id);
  }

  async function placeOrder(): Promise<void> {
    if (customers.length === 0 || products.length === 0) return;
    const items = Array.from({ length: randomInt(1, 3) }, () => ({ productId: pick(products), quantity: randomInt(1, 3) }));
    const unique = [...new Map(items.map((item) => [item.productId, item])).values()];
    const order = await call('orders', 'order', 'POST', '/orders', { customerId: pick(customers), items: unique });
    if (!order?.id || randomInt(4) === 0) return; // a quarter stay unpaid
    const payment = await call('payments', 'payment', 'POST', '/payment/payments', { orderId: order.id, amount: order.total, currency: order.currency, method: 'card' });
    if (!payment?.pspReference) return;
    // the PSP's webhook: most captures go through (the order is confirmed and fulfilled), some are declined (cancelled)
    const declined = randomInt(10) === 0;
    await call('webhooks', 'payment', 'POST', '/payment/webhooks', {
      provider: 'stripe', id: `evt_${Date.now().toString(36)}${randomInt(1_000_000_000)}`, type: declined ? 'payment.failed' : 'payment.captured',
      pspReference: payment.pspReference, ...(declined ? { failureCode: 'card_declined' } : {}),
    });
  }

  async function step(): Promise<void> {
    if (products.length < target / 5) return createProduct();
    if (customers.length < 5) return createCustomer();
    const roll = randomInt(100);
    if (roll < 25) return void (await call('products', 'catalog', 'PUT', `/catalog/products/${pick(products)}`, { name: `${pick(ADJECTIVES)} ${pick(NAMES)}` }));
    if (roll < 45) return void (await call('prices', 'pricing', 'PUT', `/pricing/prices/${pick(products)}`, { amount: `${randomInt(3, 200)}.${randomInt(10, 99)}`, currency: CURRENCY }));
    if (roll < 65) return void (await call('stock', 'warehouse', 'POST', `/warehouse/stock/${pick(products)}/adjust`, { delta: randomInt(-3, 10) || 1, reason: 'adjusted' }));
    if (roll < 85) return placeOrder();
    if (roll < 90) return createCustomer();
    if (products.length < target) return createProduct();
    const [id] = products.splice(randomInt(products.length), 1);
    await call('products', 'catalog', 'DELETE', `/catalog/products/${id}`);
  }

  const timer = setInterval(() => {
    if (stopped || inFlight.size >= 32) return; // a slow platform is not flooded; the rate is then lower
    const run = step().catch((error: unknown) => config.onError(error)).finally(() => inFlight.delete(run));
    inFlight.add(run);
  }, Math.max(1, Math.round(1_000 / config.rate)));

  let done: Promise<void> | undefined;
  return {
    stats: () => ({ ...counts }),
    stop() {
      stopped = true;
      clearInterval(timer);
      done ??= Promise.all(inFlight).then(() => undefined);
      return done;
    },
  };
}
