import { randomBytes, randomUUID } from 'node:crypto';
import { PermanentError } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { on, type Producer, type ProducerTransaction, type Subscription } from 'datasync/runtime';
import { packageStatusChanged, type PackageStatusChanged } from '../../contracts/fulfillment.js';
import { shipmentCreated, shipmentStatusChanged, type ShipmentCreated, type ShipmentStatus } from '../../contracts/shipping.js';
import { ApiError } from '../../http/errors.js';
import { formatAmount, normalizeAmount, toMinorUnits } from '../../contracts/money.js';

/**
 * Shipping's own data: shipments (a package booked with a carrier, from label to delivery)
 * and its copy of Fulfillment's packages. A package ready for pickup or handed over is booked
 * once (one shipment per package): the carrier by destination (DE, AT → DHL; US → UPS; else
 * DPD), service `standard`, a tracking number, and the carrier's price by weight (EUR). The
 * carrier's tracking updates arrive through the API and are published as
 * `shipping.shipment.status-changed`.
 */

/** No carrier takes heavier parcels (DHL's and DPD's limit). */
export const MAX_PARCEL_GRAMS = 31_500;
/** What the carrier charges, by weight up to `upToGrams`. */
export const CARRIER_RATES: readonly { readonly upToGrams: number; readonly cost: string }[] = [
  { upToGrams: 2_000, cost: '4.50' }, { upToGrams: 10_000, cost: '6.90' }, { upToGrams: MAX_PARCEL_GRAMS, cost: '12.90' },
];

/** Shipping's tables. */
export const shippingMigrations: readonly Migration[] = [{
  id: 'shipping_0001_tables',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.packages (
    id          uuid PRIMARY KEY,
    order_id    uuid NOT NULL,
    status      text NOT NULL,
    version     integer NOT NULL,
    event_id    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS {schema}.shipments (
    id                     uuid PRIMARY KEY,
    package_id             uuid NOT NULL UNIQUE,
    order_id               uuid NOT NULL,
    carrier                text NOT NULL,
    service                text NOT NULL,
    tracking_number        text NOT NULL UNIQUE,
    cost                   numeric NOT NULL,
    currency               char(3) NOT NULL,
    status                 text NOT NULL,
    estimated_delivery_at  timestamptz,
    version                integer NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
  );
  CREATE INDEX IF NOT EXISTS shipments_order ON {schema}.shipments (order_id)`,
}];

/** A shipment as the API shows it. */
export interface ShipmentView extends ShipmentCreated {
  readonly status: ShipmentStatus;
  readonly estimatedDeliveryAt?: string;
  readonly updatedAt: string;
}

interface ShipmentRow {
  id: string; package_id: string; order_id: string; carrier: string; service: string; tracking_number: string; cost: string; currency: string;
  status: ShipmentStatus; estimated_delivery_at: Date | null; version: number; created_at: Date; updated_at: Date;
}

const COLUMNS = `id::text, package_id::text, order_id::text, carrier, service, tracking_number, cost::text, currency, status, estimated_delivery_at,
  version, created_at, updated_at`;

function toView(row: ShipmentRow): ShipmentView {
  return {
    id: row.id, packageId: row.package_id, orderId: row.order_id, carrier: row.carrier, service: row.service, trackingNumber: row.tracking_number,
    cost: normalizeAmount(row.cost), currency: row.currency.trim(), status: row.status,
    ...(row.estimated_delivery_at === null ? {} : { estimatedDeliveryAt: row.estimated_delivery_at.toISOString() }),
    version: row.version, createdAt: row.created_at.toISOString(), updatedAt: row.updated_at.toISOString(),
  };
}

/** Shipments matching `where` (`id`, `order_id` or `package_id` = value), oldest first. */
export async function findShipments(db: SqlExecutor, where: 'id' | 'order_id' | 'package_id', value: string, lock = false): Promise<ShipmentView[]> {
  const { rows } = await db.query<ShipmentRow>(`SELECT ${COLUMNS} FROM shipping.shipments WHERE ${where} = $1 ORDER BY created_at${lock ? ' FOR UPDATE' : ''}`, [value]);
  return rows.map(toView);
}

function carrierFor(country: string): ShipmentCreated['carrier'] {
  if (country === 'DE' || country === 'AT') return 'dhl';
  if (country === 'US') return 'ups';
  return 'dpd';
}

/** Books the package with a carrier and publishes `shipping.shipment.created`. */
async function bookShipment(tx: SqlExecutor, producer: Producer, pkg: PackageStatusChanged, causationId: string): Promise<void> {
  const carrier = carrierFor(pkg.shipTo.country);
  const rate = CARRIER_RATES.find((r) => pkg.weightGrams <= r.upToGrams)!;
  const trackingNumber = `${carrier.toUpperCase()}${randomBytes(8).toString('hex').toUpperCase()}`;
  const { rows: [row] } = await tx.query<ShipmentRow>(
    `INSERT INTO shipping.shipments (id, package_id, order_id, carrier, service, tracking_number, cost, currency, status, version, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 'standard', $5, $6, 'EUR', 'label-created', 1, now(), now()) RETURNING ${COLUMNS}`,
    [randomUUID(), pkg.id, pkg.orderId, carrier, trackingNumber, formatAmount(toMinorUnits(rate.cost))],
  );
  const { status: _status, estimatedDeliveryAt: _eta, updatedAt: _at, ...created } = toView(row!);
  await producer.publishWithin(tx, shipmentCreated, created, { causationId });
}

/**
 * Shipping's consumer of packages. Version-based copy: an older or repeated package event
 * changes nothing. A package over {@link MAX_PARCEL_GRAMS} is dead-lettered (no carrier takes
 * it; split it). Booked once per package, when it is ready for pickup or handed over.
 */
export function packageHandler(producer: Producer): Subscription<PackageStatusChanged> {
  return on(packageStatusChanged, async ({ event, tx }) => {
    const pkg = event.data;
    if (pkg.weightGrams > MAX_PARCEL_GRAMS) {
      throw new PermanentError(`package ${pkg.id} of order ${pkg.orderId} weighs ${pkg.weightGrams} g; no carrier takes parcels over ${MAX_PARCEL_GRAMS} g, split it`);
    }
    const { rowCount } = await tx.query(
      `INSERT INTO shipping.packages AS p (id, order_id, status, version, event_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version, event_id = EXCLUDED.event_id, updated_at = now()
       WHERE p.version < EXCLUDED.version`,
      [pkg.id, pkg.orderId, pkg.status, pkg.version, event.id],
    );
    if (rowCount === 0) return 'stale';
    if (pkg.status === 'packed') return;
    if ((await findShipments(tx, 'package_id', pkg.id)).length > 0) return;
    await bookShipment(tx, producer, pkg, event.id);
  });
}

/** Where a shipment's tracking status may go from each status. */
const NEXT: Readonly<Record<ShipmentStatus, readonly ShipmentStatus[]>> = {
  'label-created': ['in-transit', 'exception'],
  'in-transit': ['out-for-delivery', 'delivered', 'exception', 'returned-to-sender'],
  'out-for-delivery': ['delivered', 'exception', 'returned-to-sender'],
  exception: ['in-transit', 'out-for-delivery', 'delivered', 'returned-to-sender'],
  delivered: [],
  'returned-to-sender': [],
};

/** Every tracking status. */
export const SHIPMENT_STATUSES = Object.keys(NEXT) as ShipmentStatus[];

/** Records a carrier's tracking update (409 naming `status` if the shipment cannot move there) and publishes `shipping.shipment.status-changed`. */
export async function trackShipment(tx: ProducerTransaction, id: string, status: ShipmentStatus, estimatedDeliveryAt?: string): Promise<ShipmentView> {
  const [current] = await findShipments(tx, 'id', id, true);
  if (!current) throw new ApiError(404, 'NOT_FOUND', `id: no shipment ${id}`, 'id');
  if (!NEXT[current.status].includes(status)) {
    const next = NEXT[current.status];
    throw new ApiError(409, 'INVALID_TRANSITION', `status: shipment ${id} is ${current.status}; ${next.length === 0 ? 'it cannot change any more' : `it can become ${next.join(', ')}`}`, 'status');
  }
  const { rows: [row] } = await tx.query<ShipmentRow>(
    `UPDATE shipping.shipments SET status = $2, estimated_delivery_at = $3, version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, status, status === 'delivered' ? null : estimatedDeliveryAt ?? current.estimatedDeliveryAt ?? null],
  );
  const shipment = toView(row!);
  await tx.publish(shipmentStatusChanged, {
    id, orderId: shipment.orderId, trackingNumber: shipment.trackingNumber, status, previousStatus: current.status,
    ...(shipment.estimatedDeliveryAt === undefined ? {} : { estimatedDeliveryAt: shipment.estimatedDeliveryAt }),
    version: shipment.version, changedAt: shipment.updatedAt,
  });
  return shipment;
}
