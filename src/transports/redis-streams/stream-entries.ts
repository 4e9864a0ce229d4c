/** One stream entry as Redis returns it; `fields` is null when the entry was deleted (trimmed). */
export interface StreamEntry {
  readonly id: string;
  readonly fields: readonly string[] | null;
}

/** The entries of an `XREADGROUP` reply (`[[stream, [[id, fields], …]]]` or null) for its one stream. */
export function entriesOfRead(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const stream = reply[0] as unknown[];
  return entriesOf(stream[1]);
}

/** Parses a list of `[id, fields]` pairs (XREADGROUP, XCLAIM, XAUTOCLAIM). */
export function entriesOf(list: unknown): StreamEntry[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) => {
    const [id, fields] = item as [string, string[] | null];
    return { id, fields: Array.isArray(fields) ? fields : null };
  });
}

/** The value of a field, found by name; `undefined` when absent. */
export function fieldOf(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** True for Redis's NOGROUP error: the stream or group is gone (e.g. Redis restarted without data). */
export function isNoGroupError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOGROUP');
}
