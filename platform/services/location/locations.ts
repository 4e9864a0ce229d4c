import { randomUUID } from 'node:crypto';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import type { Producer, ProducerTransaction } from 'datasync/runtime';
import type { Address } from '../../contracts/fields.js';
import { DEFAULT_WAREHOUSE_ID, locationCreated, locationUpdated, type Location } from '../../contracts/location.js';

/**
 * Location's own data: the company's sites, and the changes made to them. Each change writes
 * the row and publishes its event in the caller's transaction (the transactional outbox).
 *
 * The platform's one warehouse ({@link DEFAULT_WAREHOUSE}, the `warehouseId` of every stock
 * event) is seeded by the migration, so it is known from the first start; its
 * `location.location.created` is published once, by the first instance that starts
 * ({@link announceSeededLocations}).
 */

/** The warehouse Warehouse's stock is in. */
export const DEFAULT_WAREHOUSE = {
  id: DEFAULT_WAREHOUSE_ID,
  type: 'warehouse',
  name: 'Main warehouse',
  address: { line1: '1 Depot Road', city: 'Berlin', postalCode: '10115', country: 'DE' },
  timeZone: 'Europe/Berlin',
} as const;

/** The locations table, with the default warehouse seeded (`announced` false until its event is written). */
export const locationsTable: Migration = {
  id: 'location_0001_locations',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.locations (
    id          uuid PRIMARY KEY,
    type        text NOT NULL CHECK (type IN ('warehouse', 'store', 'pickup-point')),
    name        text NOT NULL,
    address     jsonb NOT NULL,
    time_zone   text NOT NULL,
    active      boolean NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    updated_at  timestamptz NOT NULL,
    announced   boolean NOT NULL DEFAULT true
  );
  INSERT INTO {schema}.locations (id, type, name, address, time_zone, active, version, updated_at, announced)
  VALUES ('${DEFAULT_WAREHOUSE.id}', '${DEFAULT_WAREHOUSE.type}', '${DEFAULT_WAREHOUSE.name}', '${JSON.stringify(DEFAULT_WAREHOUSE.address)}',
    '${DEFAULT_WAREHOUSE.timeZone}', true, 1, now(), false)
  ON CONFLICT (id) DO NOTHING`,
};

/** A site's fields as a client sets them; Location assigns the id, version and time. */
export type LocationFields = Omit<Location, 'id' | 'version' | 'updatedAt'>;

interface LocationRow {
  id: string; type: Location['type']; name: string; address: Address; time_zone: string; active: boolean; version: number; updated_at: Date;
}

const COLUMNS = 'id, type, name, address, time_zone, active, version, updated_at';

function toLocation(row: LocationRow): Location {
  return {
    id: row.id, type: row.type, name: row.name, address: row.address, timeZone: row.time_zone, active: row.active,
    version: row.version, updatedAt: row.updated_at.toISOString(),
  };
}

/** The location `id`, or undefined. */
export async function findLocation(db: SqlExecutor, id: string): Promise<Location | undefined> {
  const { rows: [row] } = await db.query<LocationRow>(`SELECT ${COLUMNS} FROM location.locations WHERE id = $1`, [id]);
  return row ? toLocation(row) : undefined;
}

/** Inserts a location at version 1 and publishes `location.location.created`. */
export async function createLocation(tx: ProducerTransaction, fields: LocationFields): Promise<Location> {
  const { rows: [row] } = await tx.query<LocationRow>(
    `INSERT INTO location.locations (id, type, name, address, time_zone, active, version, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, 1, now()) RETURNING ${COLUMNS}`,
    [randomUUID(), fields.type, fields.name, JSON.stringify(fields.address), fields.timeZone, fields.active],
  );
  const location = toLocation(row!);
  await tx.publish(locationCreated, location);
  return location;
}

/** Applies `changes`, increments the version and publishes `location.location.updated`; `undefined` if there is no such location. */
export async function updateLocation(tx: ProducerTransaction, id: string, changes: Partial<LocationFields>): Promise<Location | undefined> {
  const { rows: [row] } = await tx.query<LocationRow>(
    `UPDATE location.locations SET type = coalesce($2, type), name = coalesce($3, name), address = coalesce($4::jsonb, address),
       time_zone = coalesce($5, time_zone), active = coalesce($6, active), version = version + 1, updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, changes.type ?? null, changes.name ?? null, changes.address ? JSON.stringify(changes.address) : null, changes.timeZone ?? null, changes.active ?? null],
  );
  if (!row) return undefined;
  const location = toLocation(row);
  await tx.publish(locationUpdated, location);
  return location;
}

/**
 * Publishes `location.location.created` for each seeded location not announced yet (the
 * default warehouse, on the platform's first start), once: the row is locked and marked in
 * the same transaction, so instances starting together announce it once between them.
 */
export async function announceSeededLocations(producer: Producer): Promise<number> {
  return producer.transaction(async (tx) => {
    const { rows } = await tx.query<LocationRow>(`SELECT ${COLUMNS} FROM location.locations WHERE NOT announced ORDER BY id FOR UPDATE SKIP LOCKED`);
    for (const row of rows) {
      await tx.publish(locationCreated, toLocation(row));
      await tx.query('UPDATE location.locations SET announced = true WHERE id = $1', [row.id]);
    }
    return rows.length;
  });
}
