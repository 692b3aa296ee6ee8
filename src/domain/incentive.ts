/**
 * The incentive engine: what a piece of co-production time is worth, what would be owed for it,
 * and how much of that may be paid under the contributor's earnings limit.
 *
 * Pure: it takes plain values (the rate already looked up with `findRate`, the earnings already
 * approved in the limit period) and returns a quote, with one plain-English line for every rule
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
 * Day rates pay `rate.amount` for the day. An entry is one day's work, so time beyond
 * `dayThresholdMinutes` (a long day) is still one day: the day rate is a cap, and the
 * explanation says so, so nobody expects hourly pay on top.
 */
function valueDay(minutes: bigint, rate: Rate, money: (amount: bigint) => string, lines: string[]): Valuation {
  const value = BigInt(rate.amount);
  if (isSet(rate.dayThresholdMinutes) && minutes > BigInt(rate.dayThresholdMinutes)) {
    lines.push(
      `Day rate: ${minutes} minutes is more than a ${rate.dayThresholdMinutes}-minute day, ` +
        `capped at one day = ${money(value)}`,
    );
  } else {
    lines.push(`Day rate: ${money(value)} for the day (${minutes} minutes)`);
  }
  return { value, billableMinutes: null };
}

/**
 * Quotes a time entry: its value, what would be owed, and what may be paid under the earnings
 * limit. It is shown before approval and recomputed at approval with the then-current earnings.
 *
 * Value (by the rate's unit):
 * - `hour`: minutes rounded UP to the next multiple of `roundToMinutes` (if set), then raised to
 *   `minimumMinutes` (if set); value = rate × billable minutes / 60, rounded half up once.
 * - `session`: the rate, whatever the minutes.
 * - `day`: the rate, for one day; over `dayThresholdMinutes` (if set) it is still one day.
 * `roundToMinutes` and `minimumMinutes` apply to hourly rates only; `dayThresholdMinutes` to
 * day rates only.
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
 * whole number, a negative, fractional or unsafe amount, non-positive minute settings, or a rate
 * for a different contributor kind than the contributor's.
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
