const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/**
 * A delivery's metadata map from the JSON text it travelled as (Redis's `metadata` field, as
 * Dapr writes it; NATS's metadata header): absent, invalid or not a JSON object gives `{}`, and a
 * value that is not a string is kept as its JSON text.
 */
export function metadataFromJson(text: string | undefined): Readonly<Record<string, string>> {
  if (text === undefined || text === '') return NO_METADATA;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return NO_METADATA;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return NO_METADATA;
  const map: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) map[key] = typeof value === 'string' ? value : JSON.stringify(value);
  return map;
}
