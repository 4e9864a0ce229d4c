/**
 * Money as the platform's events carry it: decimal strings with at most 4 decimals
 * (`amount` in platform/contracts/fields.ts), never binary floating point. Arithmetic runs on
 * integer ten-thousandths (bigint), so 3 × "19.99" is exactly "59.97". Every service that
 * computes with amounts (Order, Checkout, Payment, Shipping) uses these.
 */

const DECIMALS = 4;
const FACTOR = 10n ** BigInt(DECIMALS);
const AMOUNT = /^(\d+)(?:\.(\d{1,4}))?$/;

/** An amount in ten-thousandths of the currency unit (e.g. `"19.99"` → 199900n). */
export type MinorUnits = bigint;

/** Parses a decimal string such as `"19.99"`; throws a RangeError for anything the contracts' `amount` refuses. */
export function toMinorUnits(amount: string): MinorUnits {
  const match = AMOUNT.exec(amount);
  if (!match) throw new RangeError(`not a decimal amount with at most ${DECIMALS} decimals: ${JSON.stringify(amount)}`);
  return BigInt(match[1]!) * FACTOR + BigInt((match[2] ?? '').padEnd(DECIMALS, '0'));
}

/** Formats ten-thousandths as a decimal string with 2 to 4 decimals (`599700n` → `"59.97"`, `49000n` → `"4.90"`); throws for a negative amount. */
export function formatAmount(units: MinorUnits): string {
  if (units < 0n) throw new RangeError(`a negative amount cannot be published: ${units} ten-thousandths`);
  let fraction = (units % FACTOR).toString().padStart(DECIMALS, '0');
  while (fraction.length > 2 && fraction.endsWith('0')) fraction = fraction.slice(0, -1);
  return `${units / FACTOR}.${fraction}`;
}

/** `amount` × `quantity`, exactly. */
export function multiplyAmount(amount: string, quantity: number): MinorUnits {
  if (!Number.isSafeInteger(quantity) || quantity < 0) throw new RangeError(`not a quantity: ${quantity}`);
  return toMinorUnits(amount) * BigInt(quantity);
}

/** The same amount in the canonical form of {@link formatAmount} (`"17.5"` → `"17.50"`, `"4.9000"` → `"4.90"`). */
export function normalizeAmount(amount: string): string {
  return formatAmount(toMinorUnits(amount));
}
