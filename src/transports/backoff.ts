/** Longest wait between two tries of a transport: reconnects, retried reads, resent publishes. */
export const MAX_BACKOFF_MS = 2_000;

/** Exponential backoff from 100 ms, doubling, capped at {@link MAX_BACKOFF_MS}; `failures` counts from 1. */
export function backoffMs(failures: number): number {
  return Math.min(100 * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS);
}
