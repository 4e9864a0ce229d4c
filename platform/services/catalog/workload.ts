import { setTimeout as delay } from 'node:timers/promises';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { createProduct, deleteProduct, updateProduct, type ProductChanges } from './products.js';

/**
 * The demo's traffic: Catalog keeps creating, changing and deleting products at a steady
 * rate, each change in its own transaction through the outbox, until stopped.
 */

/** Configuration of {@link startWorkload}. */
export interface WorkloadConfig {
  readonly producer: Producer;
  /** Where the existing product ids are read from at start. */
  readonly db: SqlExecutor;
  /** Changes per second. */
  readonly rate: number;
  /** Products the catalog hovers around; default 200. */
  readonly targetProducts?: number;
  /** A change that failed (it is skipped; the next one follows after a second). */
  readonly onError?: (error: unknown) => void;
}

/** Counts of committed changes; each one published exactly one event. */
export interface WorkloadStats {
  created: number;
  updated: number;
  deleted: number;
  /** Events committed to the outbox. */
  written: number;
}

/** A running workload. */
export interface Workload {
  stats(): WorkloadStats;
  /** Stops after the change in progress has committed or failed. Idempotent. */
  stop(): Promise<void>;
}

const ADJECTIVES = ['Copper', 'Walnut', 'Linen', 'Granite', 'Cobalt', 'Amber', 'Slate', 'Maple', 'Ivory', 'Juniper'];
const NOUNS = ['Kettle', 'Lamp', 'Chair', 'Notebook', 'Backpack', 'Teapot', 'Planter', 'Blanket', 'Clock', 'Bottle'];
const CATEGORIES = ['kitchen', 'home', 'office', 'garden', 'outdoor'];

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function randomChanges(): ProductChanges {
  switch (Math.floor(Math.random() * 3)) {
    case 0: return { name: `${pick(ADJECTIVES)} ${pick(NOUNS)}` };
    case 1: return { category: pick(CATEGORIES) };
    default: return { status: Math.random() < 0.8 ? 'active' : 'discontinued' };
  }
}

/** Starts the loop; it runs until {@link Workload.stop}. */
export async function startWorkload(config: WorkloadConfig): Promise<Workload> {
  const target = config.targetProducts ?? 200;
  const ids = (await config.db.query<{ id: string }>('SELECT id FROM catalog.products')).rows.map((row) => row.id);
  const stats: WorkloadStats = { created: 0, updated: 0, deleted: 0, written: 0 };
  const abort = new AbortController();
  const intervalMs = 1_000 / config.rate;

  async function changeOne(): Promise<void> {
    const roll = Math.random();
    if (ids.length < target / 2 || (roll < 0.1 && ids.length < target * 1.5)) {
      const noun = pick(NOUNS);
      const product = await config.producer.transaction((tx) => createProduct(tx, {
        sku: `${noun.slice(0, 3).toUpperCase()}-${Math.random().toString(36).slice(2, 10).toUpperCase()}`,
        name: `${pick(ADJECTIVES)} ${noun}`,
        category: pick(CATEGORIES),
      }));
      ids.push(product.id);
      stats.created += 1;
    } else if (roll < 0.15) {
      const index = Math.floor(Math.random() * ids.length);
      const id = ids[index]!;
      ids[index] = ids[ids.length - 1]!;
      ids.pop();
      if (await config.producer.transaction((tx) => deleteProduct(tx, id))) stats.deleted += 1;
      else return;
    } else {
      if (!(await config.producer.transaction((tx) => updateProduct(tx, pick(ids), randomChanges())))) return;
      stats.updated += 1;
    }
    stats.written += 1;
  }

  const loop = (async () => {
    let next = performance.now();
    while (!abort.signal.aborted) {
      try {
        await changeOne();
      } catch (error) {
        config.onError?.(error);
        await delay(1_000, undefined, { signal: abort.signal }).catch(() => undefined);
        next = performance.now();
      }
      next += intervalMs;
      const wait = next - performance.now();
      if (wait > 0) await delay(wait, undefined, { signal: abort.signal }).catch(() => undefined);
      else if (wait < -1_000) next = performance.now(); // after a stall, resume the rate instead of bursting
    }
  })();

  return {
    stats: () => ({ ...stats }),
    async stop() {
      abort.abort();
      await loop;
    },
  };
}
