import { ArgumentError } from '../core/errors.js';
import type { SubscribeOptions } from './transport.js';

/** Throws {@link ArgumentError} naming `group` or `consumer` of `subscribe` options unless both are non-empty strings. */
export function checkGroupAndConsumer(opts: Pick<SubscribeOptions, 'group' | 'consumer'>): void {
  for (const field of ['group', 'consumer'] as const) {
    if (typeof opts[field] !== 'string' || opts[field] === '') throw new ArgumentError(field, opts[field], 'a non-empty string');
  }
}

/**
 * Throws {@link ArgumentError} naming `batchSize` unless it is absent or an integer from 1 to
 * `limit.max` (default: any positive integer); the error gives `limit.reason` for the bound.
 */
export function checkBatchSize(batchSize: number | undefined, limit?: { readonly max: number; readonly reason?: string }): void {
  if (batchSize === undefined) return;
  const max = limit?.max ?? Number.MAX_SAFE_INTEGER;
  if (Number.isSafeInteger(batchSize) && batchSize > 0 && batchSize <= max) return;
  const reason = limit?.reason === undefined ? '' : ` (${limit.reason})`;
  throw new ArgumentError('batchSize', batchSize, limit === undefined ? 'a positive integer' : `an integer from 1 to ${max}${reason}`);
}

/** The `delayMs` of `nack(opts)`, 0 when absent; throws {@link ArgumentError} unless it is a finite number ≥ 0. */
export function nackDelayOf(opts: { readonly delayMs?: number } | undefined): number {
  const delayMs = opts?.delayMs ?? 0;
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new ArgumentError('delayMs', delayMs, 'a finite number ≥ 0');
  return delayMs;
}
