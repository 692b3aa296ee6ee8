/**
 * The incentive engine: what a piece of co-production time is worth and what would be owed for
 * it. Earnings limits are not applied here: benefits count money when it is paid, so limits apply
 * when a payout run is drafted (see earnings-limit.ts).
 *
 * Pure: it takes plain values (the rate already looked up with `findRate`, the contributor's kind
 * and payment method) and returns a quote, with one plain-English line for every rule
 * that changed the result, so the coordinator approving the time and the contributor reading
 * their statement can both see why the amount is what it is.
 *
 * All amounts are integers in minor units and all arithmetic on them is done in bigint, with one
 * rounding (half up, to the minor unit) after the whole calculation.
 */

import {
  assertNonNegativeSafeInteger,
  formatMoney,
  roundHalfUpDiv,
  toSafeNumber,
} from './money.js';
import type { ContributorKind, PaymentMethod, RateUnit } from './enums.js';
import type { Rate } from './rate-card.js';

/** The contributor facts a quote depends on. */
export interface QuoteContributor {
  kind: ContributorKind;
  paymentMethod: PaymentMethod;
}

export interface TimeQuoteInput {
  /** Minutes worked: a positive whole number. */
  minutes: number;
  /** The rate in force for the contributor's kind, the activity and the date (see `findRate`). */
  rate: Rate;
  /** The number of the rate-card version the rate came from, for the record. */
  rateCardVersion: number;
  contributor: QuoteContributor;
  /** ISO 4217 code of the rate card's currency, used to write amounts in the explanation. Defaults to GBP. */
  currency?: string;
}

export interface TimeQuote {
  /** The time at its rate, whether or not it will be paid (reports use it for in-kind and declined value). */
  value: number;
  /**
   * What would be owed if approved: 0 for in-kind or declined. An earnings limit never changes
   * it: limits apply when money is paid (see earnings-limit.ts).
   */
  amount: number;
  /** One plain-English line per rule that shaped the result, in the order they were applied. */
  explanation: string[];
  /** Things a coordinator should notice before approving. */
  warnings: string[];
  currency: string;
  rateCardVersion: number;
  unit: RateUnit;
  /** Hourly rates: the minutes paid for after rounding and the minimum; null for session and day rates. */
  billableMinutes: number | null;
}

const MINUTES_PER_HOUR = 60n;

const KIND_LABELS: Record<ContributorKind, string> = {
  lived_experience: 'lived experience',
  carer: 'carer',
  professional: 'professional',
};

function assertPositiveMinutes(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive whole number of minutes, got ${String(value)}`);
  }
}

/** A setting counts only if it is present: `undefined` and `null` both mean "not set". */
function isSet(value: number | null | undefined): value is number {
  return value !== undefined && value !== null;
}

/** Refuses input the API's validation should already have stopped, so a bug cannot misprice work. */
function validate(input: TimeQuoteInput): void {
  assertPositiveMinutes(input.minutes, 'minutes');
  assertNonNegativeSafeInteger(input.rate.amount, 'rate.amount');
  if (isSet(input.rate.roundToMinutes)) assertPositiveMinutes(input.rate.roundToMinutes, 'rate.roundToMinutes');
  if (isSet(input.rate.minimumMinutes)) assertPositiveMinutes(input.rate.minimumMinutes, 'rate.minimumMinutes');
  if (isSet(input.rate.dayThresholdMinutes)) {
    assertPositiveMinutes(input.rate.dayThresholdMinutes, 'rate.dayThresholdMinutes');
  }
  if (input.rate.contributorKind !== input.contributor.kind) {
    throw new RangeError(
      `The rate is for ${input.rate.contributorKind} contributors but the contributor is ${input.contributor.kind}`,
    );
  }
}

/** The value of the time at its rate, with the billable minutes for hourly rates. */
interface Valuation {
  value: bigint;
  billableMinutes: bigint | null;
}

/**
 * Hourly rates:
 * 1. Minutes are rounded UP to the next multiple of `roundToMinutes`, if set (45 minutes in
 *    30-minute steps is paid as 60): contributors are never paid for less than they gave.
 * 2. Then raised to `minimumMinutes`, if set, so turning up for a short slot is worth it.
 * 3. value = rate × billable minutes / 60, rounded half up to the minor unit once, at the end,
 *    so rounding errors cannot build up across steps.
 */
function valueHourly(minutes: bigint, rate: Rate, money: (amount: bigint) => string, lines: string[]): Valuation {
  let billable = minutes;
  if (isSet(rate.roundToMinutes)) {
    const step = BigInt(rate.roundToMinutes);
    const rounded = ((billable + step - 1n) / step) * step;
    if (rounded !== billable) {
      lines.push(`${billable} minutes rounded up to ${rounded} (rounding to ${step}-minute steps)`);
      billable = rounded;
    }
  }
  if (isSet(rate.minimumMinutes)) {
    const minimum = BigInt(rate.minimumMinutes);
    if (billable < minimum) {
      lines.push(`Minimum of ${minimum} minutes applied`);
      billable = minimum;
    }
  }
  const product = BigInt(rate.amount) * billable;
  const value = roundHalfUpDiv(product, MINUTES_PER_HOUR);
  const rounded = product % MINUTES_PER_HOUR !== 0n ? ' (rounded half up to the penny)' : '';
  lines.push(`${money(BigInt(rate.amount))} per hour × ${billable} minutes = ${money(value)}${rounded}`);
  return { value, billableMinutes: billable };
}

/**
 * Session rates pay `rate.amount` for the session, however long it ran: a two-hour workshop
 * and a ninety-minute one are the same commitment for the person attending.
 */
function valueSession(minutes: bigint, rate: Rate, money: (amount: bigint) => string, lines: string[]): Valuation {
  const value = BigInt(rate.amount);
  lines.push(`Session rate: ${money(value)} for the session, whatever its length (${minutes} minutes)`);
  return { value, billableMinutes: null };
}

/**
 * Day rates pay `rate.amount` for a full day of `dayThresholdMinutes`. An entry is one day's
 * work, so time beyond the threshold (a long day) is still one day: the day rate is a cap, and
 * the explanation says so, so nobody expects hourly pay on top.
 *
 * A day shorter than the threshold is paid as the rate's `shortDayPay` says:
 * - `half_day`: half the rate, rounded half up to the minor unit, when the minutes are at most
 *   half the threshold (compared exactly: 2 × minutes ≤ threshold, so 180 of a 360-minute day is
 *   a half day, and 91 of a 181-minute day is not); the full rate when they are more than half.
 * - `pro_rata`: rate × minutes / threshold, rounded half up to the minor unit once.
 * - not set: the full rate, as before `shortDayPay` existed, so stored versions keep their meaning.
 * Exactly the threshold is a full day. Without a threshold there is no day to be short of, and
 * any minutes are paid as one day at the full rate (rate validation refuses `shortDayPay`
 * without `dayThresholdMinutes`; here it throws a `RangeError` if one gets through).
 */
function valueDay(minutes: bigint, rate: Rate, money: (amount: bigint) => string, lines: string[]): Valuation {
  const full = BigInt(rate.amount);
  const shortDayPay = rate.shortDayPay ?? null;
  if (shortDayPay !== null && shortDayPay !== 'half_day' && shortDayPay !== 'pro_rata') {
    throw new RangeError(`rate.shortDayPay must be half_day or pro_rata, got ${String(shortDayPay)}`);
  }
  if (!isSet(rate.dayThresholdMinutes)) {
    if (shortDayPay !== null) throw new RangeError('rate.shortDayPay needs rate.dayThresholdMinutes');
    lines.push(`Day rate: ${money(full)} for the day (${minutes} minutes)`);
    return { value: full, billableMinutes: null };
  }
  const threshold = BigInt(rate.dayThresholdMinutes);
  if (minutes > threshold) {
    lines.push(`Day rate: ${minutes} minutes is more than a ${threshold}-minute day, capped at one day = ${money(full)}`);
    return { value: full, billableMinutes: null };
  }
  if (minutes === threshold || shortDayPay === null) {
    lines.push(`Day rate: ${money(full)} for the day (${minutes} minutes)`);
    return { value: full, billableMinutes: null };
  }
  const rounding = (numerator: bigint, denominator: bigint): string =>
    numerator % denominator !== 0n ? ' (rounded half up to the penny)' : '';
  if (shortDayPay === 'half_day') {
    if (minutes * 2n <= threshold) {
      const value = roundHalfUpDiv(full, 2n);
      lines.push(
        `Day rate: ${minutes} minutes is no more than half a ${threshold}-minute day, ` +
          `paid as half a day: half of ${money(full)} = ${money(value)}${rounding(full, 2n)}`,
      );
      return { value, billableMinutes: null };
    }
    lines.push(
      `Day rate: ${minutes} minutes is more than half a ${threshold}-minute day, paid as a full day = ${money(full)}`,
    );
    return { value: full, billableMinutes: null };
  }
  const product = full * minutes;
  const value = roundHalfUpDiv(product, threshold);
  lines.push(
    `Day rate: ${minutes} minutes of a ${threshold}-minute day, paid pro rata: ` +
      `${money(full)} × ${minutes} / ${threshold} = ${money(value)}${rounding(product, threshold)}`,
  );
  return { value, billableMinutes: null };
}

/**
 * Quotes a time entry: its value and what would be owed. It is shown before approval and
 * recomputed at approval.
 *
 * Value (by the rate's unit):
 * - `hour`: minutes rounded UP to the next multiple of `roundToMinutes` (if set), then raised to
 *   `minimumMinutes` (if set); value = rate × billable minutes / 60, rounded half up once.
 * - `session`: the rate, whatever the minutes.
 * - `day`: the rate, for one day; over `dayThresholdMinutes` (if set) it is still one day.
 *   Under it, `shortDayPay` (if set) pays `half_day` (half the rate up to half the threshold,
 *   the full rate above) or `pro_rata` (rate × minutes / threshold, rounded half up once); not
 *   set, or with no threshold, the full rate (see `valueDay`).
 * `roundToMinutes` and `minimumMinutes` apply to hourly rates only; `dayThresholdMinutes` and
 * `shortDayPay` to day rates only.
 *
 * Amount (what would be owed), from the value:
 * - an in-kind rate owes 0: the time is valued in reports but never paid (typically salaried
 *   professionals). This takes precedence over a declined payment method.
 * - a contributor whose payment method is `declined` is owed 0, but the value is kept so the
 *   gift of their time shows in reports rather than being lost.
 * - otherwise the amount is the value.
 *
 * An earnings limit does not change the quote: limits apply when money is paid, and approval
 * only forecasts (see earnings-limit.ts).
 *
 * Throws a `RangeError` for input that validation should have refused: minutes not a positive
 * whole number, a negative, fractional or unsafe amount, non-positive minute settings, a
 * `shortDayPay` that is unknown or has no `dayThresholdMinutes`, or a rate for a different
 * contributor kind than the contributor's.
 */
export function quoteTime(input: TimeQuoteInput): TimeQuote {
  validate(input);
  const currency = input.currency ?? 'GBP';
  const money = (amount: bigint): string => formatMoney(toSafeNumber(amount), currency);
  const { rate, contributor } = input;
  const explanation: string[] = [];
  const warnings: string[] = [];

  explanation.push(
    `Rate card version ${input.rateCardVersion}: ${rate.activity} rate for ` +
      `${KIND_LABELS[rate.contributorKind]} contributors, ${money(BigInt(rate.amount))} per ${rate.unit}`,
  );

  const minutes = BigInt(input.minutes);
  const valuation =
    rate.unit === 'hour'
      ? valueHourly(minutes, rate, money, explanation)
      : rate.unit === 'session'
        ? valueSession(minutes, rate, money, explanation)
        : valueDay(minutes, rate, money, explanation);
  const value = valuation.value;

  let amount = value;
  if (rate.inKind === true) {
    explanation.push(`In-kind rate: time valued at ${money(value)} but not paid`);
    amount = 0n;
  } else if (contributor.paymentMethod === 'declined') {
    explanation.push(`Contributor declined payment: value ${money(value)} recorded, nothing owed`);
    amount = 0n;
  }

  return {
    value: toSafeNumber(value),
    amount: toSafeNumber(amount),
    explanation,
    warnings,
    currency,
    rateCardVersion: input.rateCardVersion,
    unit: rate.unit,
    billableMinutes: valuation.billableMinutes === null ? null : toSafeNumber(valuation.billableMinutes),
  };
}
