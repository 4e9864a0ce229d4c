import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, backoffDelay, createRetryRunner, retryWithDefaults, validateRetry } from '../../src/resilience/retry-policy.js';
import { ConfigurationError, PermanentError, RetryLaterError } from '../../src/core/errors.js';

describe('retry policy', () => {
  it('defaults to 3 retries, 100 ms doubling, capped at 2 s, with jitter', () => {
    expect(DEFAULT_RETRY).toEqual({ maxRetries: 3, backoff: { initialMs: 100, multiplier: 2, maxMs: 2000, jitter: true } });
  });

  it('keeps each delay within [d/2, d) of the doubling schedule, capped', () => {
    const noJitter = { ...DEFAULT_RETRY.backoff, jitter: false };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, noJitter))).toEqual([100, 200, 400, 800, 1600, 2000]);
    for (let n = 1; n <= 8; n++) {
      const d = Math.min(2000, 100 * 2 ** (n - 1));
      for (let i = 0; i < 50; i++) {
        const delay = backoffDelay(n, DEFAULT_RETRY.backoff);
        expect(delay).toBeGreaterThanOrEqual(d / 2);
        expect(delay).toBeLessThan(d);
      }
    }
    expect(backoffDelay(3, { initialMs: 10, multiplier: 3, maxMs: 1000, jitter: false })).toBeCloseTo(90);
  });

  it('makes exactly maxRetries + 1 attempts, then rethrows the last error', async () => {
    const runner = createRetryRunner(retryWithDefaults({ maxRetries: 3, backoff: { initialMs: 1, maxMs: 2 } }));
    const attempts: number[] = [];
    await expect(runner.execute(async (attempt) => { attempts.push(attempt); throw new Error(`fail ${attempt}`); })).rejects.toThrow('fail 4');
    expect(attempts).toEqual([1, 2, 3, 4]);
  });

  it('does not retry a permanent error, and honours RetryLaterError delays', async () => {
    const runner = createRetryRunner(retryWithDefaults({ backoff: { initialMs: 1, maxMs: 2 } }));
    let calls = 0;
    await expect(runner.execute(async () => { calls++; throw new PermanentError('never'); })).rejects.toThrow('never');
    expect(calls).toBe(1);
    const started = Date.now();
    let n = 0;
    await expect(runner.execute(async () => { if (++n === 1) throw new RetryLaterError('soon', { delayMs: 120 }); return 'ok'; })).resolves.toBe('ok');
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('rejects impossible options naming the field', () => {
    expect(() => validateRetry(retryWithDefaults({ maxRetries: -1 }))).toThrow(ConfigurationError);
    expect(() => validateRetry(retryWithDefaults({ backoff: { initialMs: 500, maxMs: 100 } }))).toThrow(/retry.backoff.maxMs/);
  });
});
