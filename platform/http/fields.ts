import type { Address } from '../contracts/fields.js';
import { invalidField } from './errors.js';

/**
 * Checks of request fields every service's routes share. Each throws a 400 ApiError naming
 * the field, what was expected and what came, so a client can show the message next to the
 * input; the patterns match the published schemas (platform/contracts/fields.ts), so what the
 * API accepts an event can carry.
 */

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The published `amount`: a decimal string, never negative, at most 4 decimals. */
const AMOUNT_PATTERN = /^\d+(\.\d{1,4})?$/;
/** Digits before the decimal point an amount may have. */
const AMOUNT_MAX_INTEGER_DIGITS = 12;
const CURRENCY_PATTERN = /^[A-Z]{3}$/;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * The body's fields, checked against `fields`: 400 `UNKNOWN_FIELD` for a field not among
 * them, 400 `MISSING_FIELD` for a field of `required` that is absent.
 */
export function checkFields(body: Record<string, unknown>, fields: readonly string[], required: readonly string[] = fields): void {
  const unknown = Object.keys(body).find((key) => !fields.includes(key));
  if (unknown !== undefined) throw invalidField(unknown, `unknown field (expected ${fields.join(', ')})`, 'UNKNOWN_FIELD');
  for (const field of required) if (body[field] === undefined) throw invalidField(field, 'is required', 'MISSING_FIELD');
}

/** A UUID (ids of every entity the events carry), lower-cased. */
export function uuidField(field: string, value: unknown): string {
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) throw invalidField(field, `expected a UUID, got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** A money amount as a decimal string such as `"19.99"`: not negative, at most 4 decimals. */
export function amountField(field: string, value: unknown): string {
  if (typeof value !== 'string') throw invalidField(field, `expected a decimal string such as "19.99", got ${JSON.stringify(value)}`);
  if (value.startsWith('-')) throw invalidField(field, `must not be negative, got ${JSON.stringify(value)}`);
  if (!AMOUNT_PATTERN.test(value)) throw invalidField(field, `expected a decimal string with at most 4 decimals such as "19.99", got ${JSON.stringify(value)}`);
  if (value.split('.')[0]!.length > AMOUNT_MAX_INTEGER_DIGITS) throw invalidField(field, `expected at most ${AMOUNT_MAX_INTEGER_DIGITS} digits before the decimal point`);
  return value;
}

/** An ISO 4217 currency code of three upper-case letters. */
export function currencyField(field: string, value: unknown): string {
  if (typeof value !== 'string' || !CURRENCY_PATTERN.test(value)) throw invalidField(field, `expected an ISO 4217 code of three upper-case letters such as "EUR", got ${JSON.stringify(value)}`);
  return value;
}

/** An integer in [min, max]. */
export function integerField(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidField(field, `expected an integer, got ${JSON.stringify(value)}`);
  if (value < min || value > max) throw invalidField(field, `expected an integer from ${min} to ${max}, got ${value}`);
  return value;
}

/** A non-empty string of at most `maxLength` characters (trimmed ends are kept as sent). */
export function textField(field: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string') throw invalidField(field, `expected a string, got ${JSON.stringify(value)}`);
  if (value.trim() === '') throw invalidField(field, 'must not be empty');
  if (value.length > maxLength) throw invalidField(field, `expected at most ${maxLength} characters, got ${value.length}`);
  return value;
}

/** One of `allowed`. */
export function enumField<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw invalidField(field, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** An email address (checked loosely: something@domain.tld, at most 254 characters). */
export function emailField(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 254 || !EMAIL_PATTERN.test(value)) throw invalidField(field, `expected an email address such as "ada@example.com", got ${JSON.stringify(value)}`);
  return value;
}

/** A boolean. */
export function booleanField(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidField(field, `expected true or false, got ${JSON.stringify(value)}`);
  return value;
}

/** Lines one order may have. */
export const MAX_ORDER_ITEMS = 100;
/** Units of one product one line may order. */
export const MAX_QUANTITY = 999;

/** A JSON object or a 400 naming `field`. */
export function objectField(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidField(field, `expected an object, got ${JSON.stringify(value)}`);
  return value as Record<string, unknown>;
}

/** `body`'s keys against `fields`, naming a bad one as `<prefix>.<key>`. */
export function checkNestedFields(prefix: string, body: Record<string, unknown>, fields: readonly string[], required: readonly string[]): void {
  const unknown = Object.keys(body).find((key) => !fields.includes(key));
  if (unknown !== undefined) throw invalidField(`${prefix}.${unknown}`, `unknown field (expected ${fields.join(', ')})`, 'UNKNOWN_FIELD');
  for (const field of required) if (body[field] === undefined) throw invalidField(`${prefix}.${field}`, 'is required', 'MISSING_FIELD');
}

/** The `items` of an order or checkout request: 1 to {@link MAX_ORDER_ITEMS} distinct products, each 1 to {@link MAX_QUANTITY} units. */
export function parseItems(value: unknown): { productId: string; quantity: number }[] {
  if (!Array.isArray(value)) throw invalidField('items', `expected a list of {"productId", "quantity"}, got ${JSON.stringify(value)}`);
  if (value.length === 0) throw invalidField('items', 'expected at least one item');
  if (value.length > MAX_ORDER_ITEMS) throw invalidField('items', `expected at most ${MAX_ORDER_ITEMS} items, got ${value.length}`);
  const seen = new Map<string, number>();
  return value.map((raw, i) => {
    const item = objectField(`items[${i}]`, raw);
    checkNestedFields(`items[${i}]`, item, ['productId', 'quantity'], ['productId', 'quantity']);
    const productId = uuidField(`items[${i}].productId`, item.productId);
    const quantity = integerField(`items[${i}].quantity`, item.quantity, 1, MAX_QUANTITY);
    const earlier = seen.get(productId);
    if (earlier !== undefined) throw invalidField(`items[${i}].productId`, `product ${productId} is already items[${earlier}]; order more of it there`, 'DUPLICATE_ITEM');
    seen.set(productId, i);
    return { productId, quantity };
  });
}

const ADDRESS_PARTS = ['line1', 'line2', 'city', 'region', 'postalCode', 'country'] as const;
const REQUIRED_ADDRESS_PARTS = ['line1', 'city', 'postalCode', 'country'] as const;
const COUNTRY_PATTERN = /^[A-Z]{2}$/;
const POSTAL_CODE = { min: 2, max: 16 };

/**
 * A postal address as the contracts' `address()` takes it (line1, line2?, city, region?,
 * postalCode, country as ISO 3166-1 alpha-2), its parts named `<field>.<part>` in errors.
 * `alongside` are further parts the caller reads itself (e.g. an order's `recipientName`):
 * allowed and required here, not returned.
 */
export function addressField(field: string, value: unknown, alongside: readonly string[] = []): Address {
  const address = objectField(field, value);
  checkNestedFields(field, address, [...ADDRESS_PARTS, ...alongside], [...REQUIRED_ADDRESS_PARTS, ...alongside]);
  const postalCode = address.postalCode;
  if (typeof postalCode !== 'string' || postalCode.trim().length < POSTAL_CODE.min || postalCode.length > POSTAL_CODE.max) {
    throw invalidField(`${field}.postalCode`, `expected ${POSTAL_CODE.min} to ${POSTAL_CODE.max} characters, got ${JSON.stringify(postalCode)}`);
  }
  if (typeof address.country !== 'string' || !COUNTRY_PATTERN.test(address.country)) {
    throw invalidField(`${field}.country`, `expected an ISO 3166-1 alpha-2 code such as "DE", got ${JSON.stringify(address.country)}`);
  }
  return {
    line1: textField(`${field}.line1`, address.line1, 200),
    ...(address.line2 === undefined ? {} : { line2: textField(`${field}.line2`, address.line2, 200) }),
    city: textField(`${field}.city`, address.city, 100),
    ...(address.region === undefined ? {} : { region: textField(`${field}.region`, address.region, 100) }),
    postalCode,
    country: address.country,
  };
}
