import { abortReason, untilAborted } from '../core/abort.js';
import { DelegateBackoff, halfJitterGenerator, handleWhen, noJitterGenerator, retry, type IRetryBackoffContext } from 'cockatiel';
import { ConfigurationError, RetryLaterError, isPermanent } from '../core/errors.js';

/** Exponential backoff between attempts, as plain data. */
export interface BackoffOptions {
  /** Delay before the first retry, ms. Default 100. */
  readonly initialMs: number;
  /** Growth per retry. Default 2 (doubling). */
  readonly multiplier: number;
  /** Upper bound of one delay, ms (DESIGN's `maxRetryBackoff`). Default 2000. */
  readonly maxMs: number;
  /** Randomize each delay within [d/2, d) so retries of many consumers spread out. Default true. */
  readonly jitter: boolean;
}

/** How often and how patiently a failing event is retried before it is dead-lettered. */
export interface RetryOptions {
  /** Retries after the first attempt: 3 means 4 attempts in all. Default 3. */
  readonly maxRetries: number;
  readonly backoff: BackoffOptions;
}

/** `maxRetries: 3`, backoff from 100 ms doubling to at most 2 s, with jitter (DESIGN.md section 1). */
export const DEFAULT_RETRY: RetryOptions = Object.freeze({
  maxRetries: 3,
  backoff: Object.freeze({ initialMs: 100, multiplier: 2, maxMs: 2_000, jitter: true }),
});

/** Fills in defaults for the fields not given. */
export function retryWithDefaults(options: Partial<Omit<RetryOptions, 'backoff'>> & { backoff?: Partial<BackoffOptions> } = {}): RetryOptions {
  return { maxRetries: options.maxRetries ?? DEFAULT_RETRY.maxRetries, backoff: { ...DEFAULT_RETRY.backoff, ...options.backoff } };
}

/** Throws ConfigurationError naming the first field that cannot work. */
export function validateRetry(options: RetryOptions, field = 'retry'): RetryOptions {
  const { maxRetries, backoff } = options;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new ConfigurationError(`${field}.maxRetries`, maxRetries, 'a whole number ≥ 0');
  if (!(backoff.initialMs >= 0)) throw new ConfigurationError(`${field}.backoff.initialMs`, backoff.initialMs, 'a number of milliseconds ≥ 0');
  if (!(backoff.multiplier >= 1)) throw new ConfigurationError(`${field}.backoff.multiplier`, backoff.multiplier, 'a number ≥ 1');
  if (!(backoff.maxMs >= backoff.initialMs)) throw new ConfigurationError(`${field}.backoff.maxMs`, backoff.maxMs, `a number of milliseconds ≥ initialMs (${backoff.initialMs})`);
  return options;
}

/**
 * The delay before retry number `retry` (1 = the first retry): `initialMs × multiplier^(retry-1)`,
 * capped at `maxMs`; with jitter, uniformly within [delay/2, delay).
 */
export function backoffDelay(retryNumber: number, backoff: BackoffOptions): number {
  // cockatiel's generators compute initialDelay × 2^steps; express multiplier^(retry-1) as a power of 2.
  const options = { initialDelay: backoff.initialMs, maxDelay: backoff.maxMs, exponent: backoff.multiplier, generator: noJitterGenerator };
  const steps = (retryNumber - 1) * Math.log2(backoff.multiplier);
  const [delay] = (backoff.jitter ? halfJitterGenerator : noJitterGenerator)(steps, options);
  return delay;
}

/** Runs a function with the retry policy; permanent errors are not retried. */
export interface RetryRunner {
  /**
   * Calls `attemptFn(attempt)` (attempt 1, 2, …) until it resolves, a permanent error
   * is thrown, `maxRetries` retries are spent (the last error is rethrown), or
   * `signal` aborts. A {@link RetryLaterError} sets the next delay itself.
   */
  execute<T>(attemptFn: (attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** A retry runner over cockatiel's retry policy, with our plain-data options. */
export function createRetryRunner(options: RetryOptions, hooks: { onRetry?(info: { attempt: number; delayMs: number; error: unknown }): void } = {}): RetryRunner {
  validateRetry(options);
  const backoff = new DelegateBackoff<IRetryBackoffContext<unknown>, number>((context, retriesSoFar = 0) => {
    const next = retriesSoFar + 1;
    const error = 'error' in context.result ? context.result.error : undefined;
    const delay = error instanceof RetryLaterError ? error.delayMs : backoffDelay(next, options.backoff);
    return { delay, state: next };
  });
  const policy = retry(handleWhen((error) => !isPermanent(error)), { maxAttempts: options.maxRetries, backoff });
  const onRetry = hooks.onRetry?.bind(hooks);
  if (onRetry) {
    policy.onRetry((event) => onRetry({ attempt: event.attempt, delayMs: event.delay, error: 'error' in event ? event.error : undefined }));
  }
  return {
    execute: (attemptFn, signal) => {
      const run = policy.execute((context) => {
        // cockatiel 3 sleeps out a backoff even when aborted; never start an attempt after abort.
        if (signal?.aborted) throw abortReason(signal);
        return attemptFn(context.attempt + 1);
      }, signal);
      return signal ? untilAborted(run, signal) : run;
    },
  };
}
