/**
 * Pricing: owns prices. It changes them on request (the HTTP API) and publishes every change
 * through its outbox; its relay carries committed events to the broker in commit order.
 *
 * Owns:      pricing.prices (prices.ts)
 * Publishes: pricing.price.updated (platform/contracts/pricing.ts)
 * Keeps a copy of: nothing yet (promotions and stock, which the contract says feed the price, join later).
 */
import type { Publisher } from 'datasync';
import { startRelay, type OutboxRelay, type SqlPool } from 'datasync/postgres';
import { createProducer, defineService, type Producer } from 'datasync/runtime';
import { pricesTable } from './prices.js';

export { setPrice, type Price, type PriceChange } from './prices.js';

/** The service: its name (envelope `source`), schema and tables. */
export const pricing = defineService({ name: 'pricing', migrations: [pricesTable] });

/** Configuration of {@link startPricing}. */
export interface PricingConfig {
  readonly pool: SqlPool;
  /** The database URL, for the relay's leader session. */
  readonly databaseUrl: string;
  /** Where the relay publishes. */
  readonly publisher: Publisher;
}

/** Pricing running: its producer (for the HTTP API) and its relay. */
export interface RunningPricing {
  readonly producer: Producer;
  readonly relay: OutboxRelay;
  /** Stops the relay. */
  close(): Promise<void>;
}

/** Starts Pricing's relay; its tables must be migrated (`migrate(pool, pricing.schema, pricing.migrations)`). */
export async function startPricing(config: PricingConfig): Promise<RunningPricing> {
  const producer = createProducer({ service: pricing.name, pool: config.pool });
  const relay = await startRelay({ connectionString: config.databaseUrl, pool: config.pool, schema: pricing.schema, publisher: config.publisher });
  return { producer, relay, close: () => relay.close() };
}
