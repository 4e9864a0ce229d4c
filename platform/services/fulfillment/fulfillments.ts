import { randomUUID } from 'node:crypto';
import { PermanentError, RetryLaterError } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { fulfillmentStatusChanged, packageStatusChanged, type FulfillmentStatus, type PackageStatus, type PackageStatusChanged } from '../../contracts/fulfillment.js';
import type { Publish } from '../order/orders.js';
import type { ShipTo } from '../order/orders.js';
import { ApiError } from '../../http/errors.js';
import { DEFAULT_WAREHOUSE_ID } from '../../contracts/location.js';

/**
 * Fulfillment's own data: fulfillments (picking and packing one order in one warehouse) and
 * the package each produces, beside its copies of orders and locations. A fulfillment is
 * created when its order is confirmed (paid), moves created → picking → packed → shipped
 * through the API, and is cancelled when its order is cancelled before it shipped. Packing
 * creates the package (`packed`); shipping hands it to the carrier (`handed-over`), which is
 * when Shipping books the shipment.
 */

/** The warehouse Fulfillment picks from (Location's default warehouse). */
export { DEFAULT_WAREHOUSE_ID };
/** How long a confirmed order is held while its placed order or a warehouse is not known yet. */
export const FULFILLMENT_HOLD_MS = 1_000;
/** Weight of a package per unit when packing names none (no product weights are kept yet). */
export const GRAMS_PER_UNIT = 500;
/** A package's size when packing names none. */
export const DEFAULT_DIMENSIONS_MM = { length: 300, width: 200, height: 150 } as const;

/** Fulfillment's tables. */
export const fulfillmentMigrations: readonly Migration[] = [{
  id: 'fulfillment_0001_tables',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.orders (
    id          uuid PRIMARY KEY,
    status      text NOT NULL,
    lines       jsonb NOT NULL,
    ship_to     jsonb NOT NULL,
    version     integer NOT NULL,
    event_id    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS {schema}.locations (
    id          uuid PRIMARY KEY,
    type        text NOT NULL,
    name        text NOT NULL,
    active      boolean NOT NULL,
    version     integer NOT NULL,
    event_id    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS {schema}.fulfillments (
    id              uuid PRIMARY KEY,
    order_id        uuid NOT NULL UNIQUE,
    warehouse_id    uuid NOT NULL,
    status          text NOT NULL CHECK (status IN ('created', 'picking', 'packed', 'shipped', 'cancelled')),
    lines           jsonb NOT NULL,
    version         integer NOT NULL,
    cause_event_id  text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
  );
  CREATE TABLE IF NOT EXISTS {schema}.packages (
    id              uuid PRIMARY KEY,
    fulfillment_id  uuid NOT NULL UNIQUE REFERENCES {schema}.fulfillments (id),
    order_id        uuid NOT NULL,
    warehouse_id    uuid NOT NULL,
    status          text NOT NULL CHECK (status IN ('packed', 'ready-for-pickup', 'handed-over')),
    weight_grams    integer NOT NULL CHECK (weight_grams > 0),
    dimensions_mm   jsonb NOT NULL,
    ship_to         jsonb NOT NULL,
    version         integer NOT NULL,
    updated_at      timestamptz NOT NULL
  )`,
}];

/** A line to pick. */
export interface PickLine { readonly productId: string; readonly quantity: number }

/** A fulfillment as the API shows it, with its package once packed. */
export interface FulfillmentView {
  readonly id: string;
  readonly orderId: string;
  readonly warehouseId: string;
  readonly status: FulfillmentStatus;
  readonly lines: readonly PickLine[];
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly package?: PackageStatusChanged;
}

interface FulfillmentRow {
  id: string; order_id: string; warehouse_id: string; status: FulfillmentStatus; lines: PickLine[]; version: number; created_at: Date; updated_at: Date;
}
interface PackageRow {
  id: string; fulfillment_id: string; order_id: string; warehouse_id: string; status: PackageStatus; weight_grams: number;
  dimensions_mm: PackageStatusChanged['dimensionsMm']; ship_to: ShipTo; version: number; updated_at: Date;
}

const COLUMNS = 'id::text, order_id::text, warehouse_id::text, status, lines, version, created_at, updated_at';

function packageOf(row: PackageRow): PackageStatusChanged {
  return {
    id: row.id, fulfillmentId: row.fulfillment_id, orderId: row.order_id, warehouseId: row.warehouse_id, status: row.status,
    weightGrams: row.weight_grams, dimensionsMm: row.dimensions_mm, shipTo: row.ship_to, version: row.version, changedAt: row.updated_at.toISOString(),
  };
}

async function toView(db: SqlExecutor, row: FulfillmentRow): Promise<FulfillmentView> {
  const { rows: [pkg] } = await db.query<PackageRow>(
    `SELECT id::text, fulfillment_id::text, order_id::text, warehouse_id::text, status, weight_grams, dimensions_mm, ship_to, version, updated_at
     FROM fulfillment.packages WHERE fulfillment_id = $1`, [row.id],
  );
  return {
    id: row.id, orderId: row.order_id, warehouseId: row.warehouse_id, status: row.status, lines: row.lines, version: row.version,
    createdAt: row.created_at.toISOString(), updatedAt: row.updated_at.toISOString(), ...(pkg ? { package: packageOf(pkg) } : {}),
  };
}

/** The fulfillment matching `where` (`id = $1` or `order_id = $1`); `lock` holds its row until the transaction ends. */
export async function findFulfillment(db: SqlExecutor, where: 'id' | 'order_id', value: string, lock = false): Promise<FulfillmentView | undefined> {
  const { rows: [row] } = await db.query<FulfillmentRow>(`SELECT ${COLUMNS} FROM fulfillment.fulfillments WHERE ${where} = $1${lock ? ' FOR UPDATE' : ''}`, [value]);
  return row ? toView(db, row) : undefined;
}

async function publishStatus(publish: Publish, fulfillment: FulfillmentView): Promise<void> {
  await publish(fulfillmentStatusChanged, {
    id: fulfillment.id, orderId: fulfillment.orderId, warehouseId: fulfillment.warehouseId, status: fulfillment.status,
    lines: fulfillment.lines, version: fulfillment.version, changedAt: fulfillment.updatedAt,
  });
}

/** The warehouse to pick from: the default one if active, else the first active warehouse by name; held while none is known. */
async function chooseWarehouse(tx: SqlExecutor, orderId: string): Promise<string> {
  const { rows: [row] } = await tx.query<{ id: string }>(
    `SELECT id::text FROM fulfillment.locations WHERE type = 'warehouse' AND active ORDER BY (id = $1) DESC, name, id LIMIT 1`, [DEFAULT_WAREHOUSE_ID],
  );
  if (!row) throw new RetryLaterError(`order ${orderId}: no active warehouse is known to Fulfillment (the default is ${DEFAULT_WAREHOUSE_ID})`, { delayMs: FULFILLMENT_HOLD_MS });
  return row.id;
}

/** Creates the order's fulfillment (once per order) in a warehouse and publishes `created`. */
export async function createFulfillment(tx: SqlExecutor, publish: Publish, order: { id: string; lines: readonly PickLine[] }, causeEventId: string): Promise<FulfillmentView> {
  const existing = await findFulfillment(tx, 'order_id', order.id);
  if (existing) return existing;
  const warehouseId = await chooseWarehouse(tx, order.id);
  const { rows: [row] } = await tx.query<FulfillmentRow>(
    `INSERT INTO fulfillment.fulfillments (id, order_id, warehouse_id, status, lines, version, cause_event_id, created_at, updated_at)
     VALUES ($1, $2, $3, 'created', $4, 1, $5, now(), now()) RETURNING ${COLUMNS}`,
    [randomUUID(), order.id, warehouseId, JSON.stringify(order.lines.map(({ productId, quantity }) => ({ productId, quantity }))), causeEventId],
  );
  const fulfillment = await toView(tx, row!);
  await publishStatus(publish, fulfillment);
  return fulfillment;
}

/** Cancels the order's open fulfillment, if any; one already shipped cannot be (dead-lettered: the parcel must be stopped by hand). */
export async function cancelFulfillment(tx: SqlExecutor, publish: Publish, orderId: string): Promise<void> {
  const fulfillment = await findFulfillment(tx, 'order_id', orderId, true);
  if (!fulfillment || fulfillment.status === 'cancelled') return;
  if (fulfillment.status === 'shipped') throw new PermanentError(`order ${orderId} was cancelled, but its fulfillment ${fulfillment.id} has shipped; stop the parcel with the carrier`);
  await publishStatus(publish, await setStatus(tx, fulfillment, 'cancelled'));
}

async function setStatus(tx: SqlExecutor, fulfillment: FulfillmentView, status: FulfillmentStatus): Promise<FulfillmentView> {
  const { rows: [row] } = await tx.query<FulfillmentRow>(
    `UPDATE fulfillment.fulfillments SET status = $2, version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`, [fulfillment.id, status],
  );
  return toView(tx, row!);
}

/** Where the API may move a fulfillment from each status. */
const NEXT: Readonly<Partial<Record<FulfillmentStatus, FulfillmentStatus>>> = { created: 'picking', picking: 'packed', packed: 'shipped' };

/** Package details packing may name. */
export interface Packing {
  readonly weightGrams?: number;
  readonly dimensionsMm?: PackageStatusChanged['dimensionsMm'];
}

/**
 * Moves a fulfillment one step (created → picking → packed → shipped; 409 naming `status`
 * otherwise) and publishes it; packing creates the package (`packed`), shipping hands it over
 * (`handed-over`), each published as `fulfillment.package.status-changed`.
 */
export async function advanceFulfillment(tx: SqlExecutor, publish: Publish, id: string, to: FulfillmentStatus, packing: Packing): Promise<FulfillmentView> {
  const current = await findFulfillment(tx, 'id', id, true);
  if (!current) throw new ApiError(404, 'NOT_FOUND', `id: no fulfillment ${id}`, 'id');
  if (NEXT[current.status] !== to) {
    const next = NEXT[current.status];
    throw new ApiError(409, 'INVALID_TRANSITION', `status: fulfillment ${id} is ${current.status}; ${next === undefined ? 'it cannot move on' : `the next status is ${next}`}`, 'status');
  }
  const fulfillment = await setStatus(tx, current, to);
  await publishStatus(publish, fulfillment);
  if (to === 'packed') {
    const { rows: [order] } = await tx.query<{ ship_to: ShipTo }>('SELECT ship_to FROM fulfillment.orders WHERE id = $1', [fulfillment.orderId]);
    const weight = packing.weightGrams ?? fulfillment.lines.reduce((sum, line) => sum + line.quantity * GRAMS_PER_UNIT, 0);
    const { rows: [pkg] } = await tx.query<PackageRow>(
      `INSERT INTO fulfillment.packages (id, fulfillment_id, order_id, warehouse_id, status, weight_grams, dimensions_mm, ship_to, version, updated_at)
       VALUES ($1, $2, $3, $4, 'packed', $5, $6, $7, 1, now())
       RETURNING id::text, fulfillment_id::text, order_id::text, warehouse_id::text, status, weight_grams, dimensions_mm, ship_to, version, updated_at`,
      [randomUUID(), fulfillment.id, fulfillment.orderId, fulfillment.warehouseId, weight, JSON.stringify(packing.dimensionsMm ?? DEFAULT_DIMENSIONS_MM), JSON.stringify(order!.ship_to)],
    );
    await publish(packageStatusChanged, packageOf(pkg!));
  }
  if (to === 'shipped') {
    const { rows: [pkg] } = await tx.query<PackageRow>(
      `UPDATE fulfillment.packages SET status = 'handed-over', version = version + 1, updated_at = now() WHERE fulfillment_id = $1
       RETURNING id::text, fulfillment_id::text, order_id::text, warehouse_id::text, status, weight_grams, dimensions_mm, ship_to, version, updated_at`,
      [fulfillment.id],
    );
    await publish(packageStatusChanged, packageOf(pkg!));
  }
  return (await findFulfillment(tx, 'id', id))!;
}
