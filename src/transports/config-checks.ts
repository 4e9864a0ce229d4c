import { ConfigurationError } from '../core/errors.js';

/**
 * Throws {@link ConfigurationError} naming `field` unless `value` is a safe integer from `min`
 * to `max`; by default any positive integer.
 */
export function requireInteger(field: string, value: unknown, min = 1, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const expected = min === 1 ? 'a positive integer' : `an integer of at least ${min}`;
    throw new ConfigurationError(field, value, max < Number.MAX_SAFE_INTEGER ? `${expected} (at most ${max})` : expected);
  }
}

/** Throws {@link ConfigurationError} naming `field` unless `value` is a non-empty string. */
export function requireNonEmptyString(field: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') throw new ConfigurationError(field, value, 'a non-empty string');
}

/** Throws {@link ConfigurationError} naming `field` unless `value` is `true` or `false`. */
export function requireBoolean(field: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new ConfigurationError(field, value, 'true or false');
}
