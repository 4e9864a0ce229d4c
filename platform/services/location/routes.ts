import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { addressField, booleanField, checkFields, enumField, textField, uuidField } from '../../http/fields.js';
import { createLocation, findLocation, updateLocation, type LocationFields } from './locations.js';

/**
 * Location's HTTP routes. Each write is one producer transaction (the row and its event commit
 * together).
 *
 *   POST /locations      {"type": "warehouse"|"store"|"pickup-point", "name", "address": {"line1", "line2"?, "city",
 *                         "region"?, "postalCode", "country"}, "timeZone": "Europe/Berlin", "active"? (default true)}
 *                        → 201 the location
 *   PUT  /locations/:id  any of those fields (address whole) → 200 the location (404 unknown id; 409 LOCATION_HAS_STOCK
 *                        naming `type` for a warehouse holding stock that would stop being one)
 *   GET  /locations/:id  → 200 the location with `stock`: {products, onHand, reserved, available} (404 unknown id)
 */

const FIELDS = ['type', 'name', 'address', 'timeZone', 'active'] as const;
const TYPES = ['warehouse', 'store', 'pickup-point'] as const;
const TIME_ZONE_PATTERN = /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/;


function timeZoneField(value: unknown): string {
  const valid = typeof value === 'string' && value.length <= 64 && TIME_ZONE_PATTERN.test(value) && (() => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: value });
      return true;
    } catch {
      return false;
    }
  })();
  if (!valid) throw invalidField('timeZone', `expected an IANA time zone such as "Europe/Berlin", got ${JSON.stringify(value)}`);
  return value;
}

function parseFields(body: Record<string, unknown>): Partial<LocationFields> {
  const has = (field: string): boolean => body[field] !== undefined;
  return {
    ...(has('type') ? { type: enumField('type', body.type, TYPES) } : {}),
    ...(has('name') ? { name: textField('name', body.name, 200) } : {}),
    ...(has('address') ? { address: addressField('address', body.address) } : {}),
    ...(has('timeZone') ? { timeZone: timeZoneField(body.timeZone) } : {}),
    ...(has('active') ? { active: booleanField('active', body.active) } : {}),
  };
}

/** The body of `POST /locations`; throws a 400 naming the first bad field. */
export function parseNewLocation(body: Record<string, unknown>): LocationFields {
  checkFields(body, FIELDS, ['type', 'name', 'address', 'timeZone']);
  const fields = parseFields(body);
  return { type: fields.type!, name: fields.name!, address: fields.address!, timeZone: fields.timeZone!, active: fields.active ?? true };
}

/** The body of `PUT /locations/:id`: any of the fields, at least one. */
export function parseLocationChanges(body: Record<string, unknown>): Partial<LocationFields> {
  checkFields(body, FIELDS, []);
  if (FIELDS.every((field) => body[field] === undefined)) throw new ApiError(400, 'NOTHING_TO_CHANGE', `body: expected at least one of ${FIELDS.join(', ')}`, 'body');
  return parseFields(body);
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'LOCATION_NOT_FOUND', `no location with id ${JSON.stringify(id)}`);
}

/** A path id that is not a UUID names no location. */
function pathId(id: string): string | undefined {
  try {
    return uuidField('id', id);
  } catch {
    return undefined;
  }
}

/** Location's routes, to mount at `/locations`. */
export function locationRoutes(deps: { readonly producer: Producer; readonly db: SqlExecutor }): Hono {
  const routes = new Hono();

  routes.post('/', async (c) => {
    const fields = parseNewLocation(await readJsonObject(c));
    return c.json(await deps.producer.transaction((tx) => createLocation(tx, fields)), 201);
  });

  routes.get('/:id', async (c) => {
    const id = pathId(c.req.param('id'));
    const location = id === undefined ? undefined : await findLocation(deps.db, id);
    if (!location) throw notFound(c.req.param('id'));
    const { rows: [stock] } = await deps.db.query<{ products: number; on_hand: number; reserved: number; available: number }>(
      `SELECT count(*)::int AS products, coalesce(sum(on_hand), 0)::int AS on_hand, coalesce(sum(reserved), 0)::int AS reserved,
              coalesce(sum(available), 0)::int AS available
       FROM location.stock WHERE location_id = $1`,
      [location.id],
    );
    return c.json({ ...location, stock: { products: stock!.products, onHand: stock!.on_hand, reserved: stock!.reserved, available: stock!.available } }, 200);
  });

  routes.put('/:id', async (c) => {
    const id = pathId(c.req.param('id'));
    const changes = parseLocationChanges(await readJsonObject(c));
    const location = id === undefined ? undefined : await deps.producer.transaction(async (tx) => {
      if (changes.type !== undefined && changes.type !== 'warehouse') {
        const { rows: [held] } = await tx.query<{ units: number }>('SELECT coalesce(sum(on_hand), 0)::int AS units FROM location.stock WHERE location_id = $1', [id]);
        if (held!.units > 0) throw new ApiError(409, 'LOCATION_HAS_STOCK', `type: location ${id} holds ${held!.units} units of stock, so it stays a warehouse`, 'type');
      }
      return updateLocation(tx, id, changes);
    });
    if (!location) throw notFound(c.req.param('id'));
    return c.json(location, 200);
  });

  return routes;
}
