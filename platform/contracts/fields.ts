import type { JsonSchema } from 'datasync/core';

/**
 * JSON Schema fragments every platform contract shares, so an id, an amount or an address
 * means the same thing on every topic. Not topics themselves; the owning services' files
 * (catalog.ts, order.ts, …) build their schemas from these.
 */

/** Marks a field personal (DESIGN.md section 3): masked in logs, dead-letter views, audit and analytics. */
export function pii(schema: JsonSchema): JsonSchema {
  return { ...schema, 'x-pii': true };
}

/** An object schema that rejects unknown fields; every field in `required` must be in `properties`. */
export function record(properties: Record<string, JsonSchema>, required: readonly string[]): JsonSchema {
  return { type: 'object', additionalProperties: false, required: [...required], properties };
}

/** An entity id: a UUID (Catalog's product ids are `randomUUID()` too). */
export const uuid: JsonSchema = { type: 'string', format: 'uuid' };

/** An RFC 3339 timestamp. */
export const timestamp: JsonSchema = { type: 'string', format: 'date-time' };

/** The owner's entity version after the change; incremented by every change, so copies drop older ones. */
export const version: JsonSchema = { type: 'integer', minimum: 1 };

/** A money amount as a decimal string (no binary floating point), up to 4 decimals, never negative: prices, totals, refunds. */
export const amount: JsonSchema = { type: 'string', pattern: '^\\d+(\\.\\d{1,4})?$' };

/** An ISO 4217 currency code, e.g. `EUR`. */
export const currency: JsonSchema = { type: 'string', pattern: '^[A-Z]{3}$' };

/** An ISO 3166-1 alpha-2 country code, e.g. `DE`. */
export const country: JsonSchema = { type: 'string', pattern: '^[A-Z]{2}$' };

/** A count of items in an order, return or shipment line. */
export const quantity: JsonSchema = { type: 'integer', minimum: 1 };

/** A stock figure: units, never negative. */
export const units: JsonSchema = { type: 'integer', minimum: 0 };

/** A stock keeping unit, as Catalog defines it. */
export const sku: JsonSchema = { type: 'string', pattern: '^[A-Z0-9-]{3,32}$' };

/** A short free-text label (names, titles, reasons). */
export function text(maxLength: number): JsonSchema {
  return { type: 'string', minLength: 1, maxLength };
}

/** A person's email address (personal). */
export const email: JsonSchema = pii({ type: 'string', format: 'email', maxLength: 254 });

/** A person's given or family name, or full name (personal). */
export const personName: JsonSchema = pii(text(100));

/** A phone number in E.164 form, e.g. `+4930123456` (personal). */
export const phone: JsonSchema = pii({ type: 'string', pattern: '^\\+[1-9]\\d{6,14}$' });

/** A postal address as TypeScript sees it. */
export interface Address {
  readonly line1: string;
  readonly line2?: string;
  readonly city: string;
  readonly region?: string;
  readonly postalCode: string;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
}

/**
 * A postal address; `personal` marks it and each of its fields `x-pii` (a customer's address,
 * not a warehouse's). `extra` adds required fields, e.g. the recipient's name on a parcel, and
 * `optional` optional ones, e.g. a phone number for the carrier.
 */
export function address(personal: boolean, extra: Record<string, JsonSchema> = {}, optional: Record<string, JsonSchema> = {}): JsonSchema {
  const field = (schema: JsonSchema): JsonSchema => (personal ? pii(schema) : schema);
  const schema = record({
    line1: field(text(200)),
    line2: field(text(200)),
    city: field(text(100)),
    region: field(text(100)),
    postalCode: field({ type: 'string', minLength: 2, maxLength: 16 }),
    country,
    ...extra,
    ...optional,
  }, ['line1', 'city', 'postalCode', 'country', ...Object.keys(extra)]);
  return personal ? pii(schema) : schema;
}

/** An array of at least one `items`, at most `maxItems`. */
export function list(items: JsonSchema, maxItems = 500): JsonSchema {
  return { type: 'array', minItems: 1, maxItems, items };
}

/** A string restricted to `values`. */
export function oneOf<const V extends string>(values: readonly V[]): JsonSchema {
  return { type: 'string', enum: [...values] };
}
