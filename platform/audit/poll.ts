import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls `check` every `intervalMs` (default 50) until it returns a value, and resolves with it;
 * fails with `<what>: not seen within N s` after `timeoutMs`. The audit and every service's
 * probes wait for what they expect with it.
 */
export async function pollUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`${what}: not seen within ${timeoutMs / 1_000} s`);
    await delay(intervalMs);
  }
}
