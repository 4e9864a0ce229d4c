import type { JsonSchema } from '../core/contracts.js';

/**
 * Masks personal data in event data for views (DESIGN.md section 3: `x-pii: true` marks a field
 * masked in logs, dead-letter views, audit and analytics). Follows the schema's `properties`,
 * `items`, `prefixItems`, `additionalProperties` and the branches of `allOf`/`anyOf`/`oneOf`
 * (a value any branch marks personal is masked); `$ref` is not followed.
 */

/** What a masked value is replaced with. */
export const PII_MASK = '***';

/** `data` with every value its `schema` marks `x-pii: true` replaced by {@link PII_MASK} (null and absent values stay). */
export function maskPii(schema: JsonSchema | undefined, data: unknown): unknown {
  if (!schema || typeof schema !== 'object' || data === null || data === undefined) return data;
  if (schema['x-pii'] === true) return PII_MASK;
  let masked: unknown = data;
  for (const keyword of ['allOf', 'anyOf', 'oneOf'] as const) {
    const branches = schema[keyword];
    if (Array.isArray(branches)) for (const branch of branches) masked = maskPii(branch as JsonSchema, masked);
  }
  if (Array.isArray(masked)) {
    const prefix = Array.isArray(schema.prefixItems) ? (schema.prefixItems as JsonSchema[]) : [];
    const items = isSchema(schema.items) ? schema.items : undefined;
    return masked.map((item, index) => maskPii(prefix[index] ?? items, item));
  }
  if (typeof masked === 'object') {
    const properties = isSchema(schema.properties) ? (schema.properties as Record<string, JsonSchema>) : {};
    const additional = isSchema(schema.additionalProperties) ? schema.additionalProperties : undefined;
    return Object.fromEntries(Object.entries(masked as Record<string, unknown>).map(([key, value]) => [key, maskPii((Object.hasOwn(properties, key) ? properties[key] : undefined) ?? additional, value)]));
  }
  return masked;
}

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
