/**
 * Money in integer minor units (pence for GBP).
 *
 * Every amount in this service is an integer number of the currency's minor unit: `19550` is
 * £195.50. Arithmetic on amounts is done in `bigint` so that an intermediate product (a rate
 * times a number of minutes, a sum of many postings) can never lose precision, and results are
 * converted back to `number` only after checking they are safe integers. No floating point
 * touches an amount, not even for display (see {@link formatMoney}).
 */

/** ISO 4217 currency codes are three upper-case letters ("GBP", "EUR"). */
const CURRENCY_CODE = /^[A-Z]{3}$/;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/**
 * Divides and rounds half up: the integer nearest to `numerator / denominator`, with an exact
 * half going up (2.5 → 3). This is the service's one rounding rule for money, applied once
 * after the whole calculation (rate × minutes / 60), never to intermediate steps.
 *
 * Only defined for a non-negative numerator and a positive denominator, which is all money
 * arithmetic here needs (amounts are never negative; corrections are separate reversals).
 * Anything else is a programming error and throws a `RangeError` rather than guessing how
 * negative halves should round.
 */
export function roundHalfUpDiv(numerator: bigint, denominator: bigint): bigint {
  if (numerator < 0n) {
    throw new RangeError(`roundHalfUpDiv: numerator must be non-negative, got ${numerator}`);
  }
  if (denominator <= 0n) {
    throw new RangeError(`roundHalfUpDiv: denominator must be positive, got ${denominator}`);
  }
  const quotient = numerator / denominator; // bigint division truncates, which is floor here
  const remainder = numerator % denominator;
  // Round up when the remainder is at least half the denominator (compared without dividing).
  return remainder * 2n >= denominator ? quotient + 1n : quotient;
}

/**
 * Converts a bigint result, or a SQL sum (PostgreSQL returns `sum(bigint)` as a numeric string;
 * null for no rows, read as 0), back to a `number`, refusing anything outside the safe-integer
 * range (±2^53 − 1) where a `number` could no longer represent every penny exactly.
 */
export function toSafeNumber(value: bigint | number | string | null): number {
  const big = typeof value === 'bigint' ? value : BigInt(value ?? 0);
  if (big > MAX_SAFE || big < MIN_SAFE) {
    throw new RangeError(`Amount ${value} is outside the safe integer range`);
  }
  return Number(big);
}

/** True for a number that is an integer within the safe-integer range and not negative. */
export function isNonNegativeSafeInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/**
 * Throws a `RangeError` naming `name` unless `value` is a non-negative safe integer. Domain
 * functions use it to reject amounts and minutes that the API's validation should already have
 * refused (fractional, negative, NaN or past 2^53), so a bug upstream fails loudly instead of
 * producing a wrong amount.
 */
export function assertNonNegativeSafeInteger(value: number, name: string): void {
  if (!isNonNegativeSafeInteger(value)) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${String(value)}`);
  }
}

/**
 * Sums amounts in minor units exactly (in bigint) and checks the total is a safe integer.
 * Amounts may be negative here (a balance movement), but each must be a safe integer.
 */
export function sumMinorUnits(amounts: readonly number[]): number {
  let total = 0n;
  for (const amount of amounts) {
    if (!Number.isSafeInteger(amount)) {
      throw new RangeError(`Amount must be a safe integer, got ${String(amount)}`);
    }
    total += BigInt(amount);
  }
  return toSafeNumber(total);
}

const formatters = new Map<string, Intl.NumberFormat>();

/** One cached en-GB currency formatter per currency code. */
function formatterFor(currency: string): Intl.NumberFormat {
  if (!CURRENCY_CODE.test(currency)) {
    throw new RangeError(`Currency must be an ISO 4217 code in upper case, got "${currency}"`);
  }
  let formatter = formatters.get(currency);
  if (formatter === undefined) {
    formatter = new Intl.NumberFormat('en-GB', { style: 'currency', currency });
    formatters.set(currency, formatter);
  }
  return formatter;
}

/** Each currency's digits, worked out once (resolvedOptions builds a new object every call). */
const digitsOf = new Map<string, number>();

/**
 * The number of minor-unit digits of a currency: 2 for GBP and EUR (100 pence to the pound),
 * 0 for JPY, 3 for BHD. Taken from the runtime's ISO 4217 data through `Intl`.
 */
export function currencyDigits(currency: string): number {
  let digits = digitsOf.get(currency);
  if (digits === undefined) {
    digits = formatterFor(currency).resolvedOptions().maximumFractionDigits ?? 2;
    digitsOf.set(currency, digits);
  }
  return digits;
}

/**
 * Formats an amount in minor units for people to read: `formatMoney(19550, 'GBP')` is
 * `"£195.50"`, `formatMoney(-50, 'GBP')` is `"-£0.50"`.
 *
 * DISPLAY ONLY: the result is text for explanations, statements and logs, never something to
 * parse or compute with.
 *
 * Why not `Intl.NumberFormat#format(amount / 10 ** digits)`: that divides in floating point,
 * and above roughly 3.5 × 10^15 pence the nearest double is more than half a penny away, so the
 * wrong penny could be shown. Instead the whole units are split off exactly with bigint, handed
 * to `Intl` as a bigint (which it formats exactly, with the currency symbol and grouping), and
 * the exact minor-unit digits are put into the fraction slot `Intl` leaves for them.
 */
export function formatMoney(amount: number, currency: string): string {
  if (!Number.isSafeInteger(amount)) {
    throw new RangeError(`Amount must be a safe integer in minor units, got ${String(amount)}`);
  }
  const formatter = formatterFor(currency);
  const digits = currencyDigits(currency);
  const scale = 10n ** BigInt(digits);
  const negative = amount < 0;
  const absolute = BigInt(Math.abs(amount));
  const whole = absolute / scale;
  const fraction = (absolute % scale).toString().padStart(digits, '0');

  const text = formatter
    .formatToParts(whole)
    .map((part) => (part.type === 'fraction' ? fraction : part.value))
    .join('');
  // Formatting the absolute whole units loses the sign of amounts like -50 (whole part 0), so
  // the sign is put back here; en-GB writes it first, before the currency symbol ("-£0.50").
  return negative ? `-${text}` : text;
}
