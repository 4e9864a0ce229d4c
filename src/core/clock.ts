/** Source of time, replaceable in tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** RFC 3339 with milliseconds, UTC, as the envelope's `time` carries it. */
export function toRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
