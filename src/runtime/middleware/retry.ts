import type { InboundMessage, Middleware } from '../pipeline.js';
import type { RetryRunner } from '../../resilience/retry-policy.js';

/**
 * Retries a failing attempt with backoff (the lane of the entity waits meanwhile, so
 * order is kept). Permanent errors pass straight through. Each failure is written to
 * the message's failure log for the dead letter's context.
 */
export function retryFailures(runner: RetryRunner, hooks: { onRetry?(message: InboundMessage): void } = {}): Middleware {
  return (next) => (message) =>
    runner.execute(async (attempt) => {
      if (attempt > 1) hooks.onRetry?.(message);
      try {
        return await next({ ...message, attempt });
      } catch (error) {
        const now = Date.now();
        message.failures.attempts = attempt;
        message.failures.firstFailedAt ??= now;
        message.failures.lastFailedAt = now;
        message.failures.lastError = error;
        throw error;
      }
    }, message.signal);
}
