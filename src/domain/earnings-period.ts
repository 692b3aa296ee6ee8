/**
 * Calendar maths for earnings-limit periods and UK tax years, on `YYYY-MM-DD` date strings.
 *
 * People on benefits may earn only so much per assessment period without losing them: ESA
 * permitted work is assessed per week (£195.50 a week from April 2025), Universal Credit per
 * monthly period that starts on the claim's day of the month. A contributor's earnings limit
 * names the kind of period and the day it starts; {@link limitPeriod} finds the period a piece
 * of work falls in, so earnings already approved in that period can be added up.
 *
 * Dates are calendar days with no time zone: they are turned into UTC midnight `Date`s only to
 * step through the calendar (so daylight saving can never shift a day), and back. These
 * functions never touch money.
 */

/** A calendar date as `YYYY-MM-DD`. */
export type IsoDate = string;

import type { EarningsPeriodKind } from './enums.js';

/**
 * When an earnings-limit period starts.
 * - `week`: `periodStartDay` is the weekday the week starts on, 1 = Monday … 7 = Sunday.
 * - `month`: `periodStartDay` is the day of the month, 1–31, as a Universal Credit claim's
 *   assessment periods start on the day of the month the claim began; in a month too short for
 *   it, the period starts on the month's last day (a 31st-day claim's period starts on
 *   28 or 29 February and on 30 April).
 */
export interface EarningsLimitPeriod {
  period: EarningsPeriodKind;
  periodStartDay: number;
}

/** An inclusive range of calendar dates. */
export interface DateRange {
  start: IsoDate;
  /** Inclusive: the last day in the period. */
  end: IsoDate;
}

/** A UK tax year: 6 April to 5 April the next year, labelled like `2025-26`. */
export interface UkTaxYear extends DateRange {
  label: string;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MS_PER_DAY = 86_400_000;

/** Builds the UTC-midnight `Date` for a calendar day; handles years 0–99 literally. */
function utcDate(year: number, monthIndex: number, day: number): Date {
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  date.setUTCFullYear(year, monthIndex, day);
  return date;
}

/** Parses a `YYYY-MM-DD` string to UTC midnight, or returns null if it is not a real date. */
function parse(date: string): Date | null {
  const match = ISO_DATE.exec(date);
  if (match === null) return null;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const parsed = utcDate(year, month - 1, day);
  // Date rolls over impossible days (31 April → 1 May); a real date survives unchanged.
  if (parsed.getUTCFullYear() !== year || parsed.getUTCMonth() !== month - 1 || parsed.getUTCDate() !== day) {
    return null;
  }
  return parsed;
}

/** Parses a date, throwing a `RangeError` naming the bad value. */
function parseOrThrow(date: string): Date {
  const parsed = parse(date);
  if (parsed === null) {
    throw new RangeError(`Expected a calendar date as YYYY-MM-DD, got "${date}"`);
  }
  return parsed;
}

function format(date: Date): IsoDate {
  const year = String(date.getUTCFullYear()).padStart(4, '0');
  const month = String(date.getUTCMonth() + 1).padStart(2, '0');
  const day = String(date.getUTCDate()).padStart(2, '0');
  return `${year}-${month}-${day}`;
}

/**
 * True if `value` is a real calendar date written `YYYY-MM-DD` (so `2028-02-29` is, and
 * `2027-02-29` and `2025-04-31` are not). Dates in that form sort correctly as strings, which
 * is what rate-card and period comparisons rely on.
 */
export function isIsoDate(value: string): boolean {
  return parse(value) !== null;
}

/** The date `days` calendar days after `date` (before it, for a negative `days`). */
export function addDays(date: IsoDate, days: number): IsoDate {
  if (!Number.isSafeInteger(days)) {
    throw new RangeError(`days must be an integer, got ${String(days)}`);
  }
  const parsed = parseOrThrow(date);
  parsed.setUTCDate(parsed.getUTCDate() + days);
  return format(parsed);
}

/** Whole days from `from` to `to`: 0 for the same day, negative if `to` is earlier. */
export function daysBetween(from: IsoDate, to: IsoDate): number {
  // Both are UTC midnights, so the difference is an exact multiple of a day.
  return Math.round((parseOrThrow(to).getTime() - parseOrThrow(from).getTime()) / MS_PER_DAY);
}

/**
 * The earnings-limit period that contains `date`.
 *
 * - Weeks: the seven days starting on the most recent `periodStartDay` weekday on or before
 *   `date` (a Monday-start week containing Wednesday 2025-04-09 is 2025-04-07 – 2025-04-13).
 * - Months: from `periodStartDay` of a month to the day before the next period's start, so
 *   start day 15 gives 15 January – 14 February and start day 1 gives the calendar month. In a
 *   month that has no such day the period starts on its last day (start day 31: 31 January –
 *   27 February, 28 February – 30 March, 31 March – 29 April, 30 April – 30 May), so periods
 *   follow each other without gaps or overlaps, and cross December → January and leap
 *   Februaries naturally.
 *
 * Throws a `RangeError` for a malformed date or a start day out of range (1–7 for weeks,
 * 1–31 for months).
 */
export function limitPeriod(limit: EarningsLimitPeriod, date: IsoDate): DateRange {
  const day = parseOrThrow(date);
  const startDay = limit.periodStartDay;

  if (limit.period === 'week') {
    if (!Number.isInteger(startDay) || startDay < 1 || startDay > 7) {
      throw new RangeError(`A weekly periodStartDay must be 1 (Monday) to 7 (Sunday), got ${startDay}`);
    }
    // getUTCDay counts Sunday = 0 … Saturday = 6; convert to Monday = 1 … Sunday = 7.
    const weekday = ((day.getUTCDay() + 6) % 7) + 1;
    const daysSinceStart = (weekday - startDay + 7) % 7;
    const start = addDays(date, -daysSinceStart);
    return { start, end: addDays(start, 6) };
  }

  if (!Number.isInteger(startDay) || startDay < 1 || startDay > 31) {
    throw new RangeError(`A monthly periodStartDay must be 1 to 31, got ${startDay}`);
  }
  const year = day.getUTCFullYear();
  // The day a period starts in a month: the start day, or the month's last day if it is shorter.
  // Month index -1 or 12 rolls over the year in utcDate, which handles January and December.
  const startIn = (monthIndex: number) => {
    const lastDay = utcDate(year, monthIndex + 1, 0).getUTCDate();
    return utcDate(year, monthIndex, Math.min(startDay, lastDay));
  };
  const thisMonth = startIn(day.getUTCMonth());
  // On or after this month's start: the period began this month; before it: last month.
  const startMonth = day.getTime() >= thisMonth.getTime() ? day.getUTCMonth() : day.getUTCMonth() - 1;
  const start = startIn(startMonth);
  const nextStart = startIn(startMonth + 1);
  return { start: format(start), end: addDays(format(nextStart), -1) };
}

/**
 * The UK tax year containing `date`: it starts on 6 April, so 5 April 2026 is in 2025-26 and
 * 6 April 2026 starts 2026-27. Statements total earnings per tax year because that is how
 * contributors report income to HMRC.
 */
export function ukTaxYear(date: IsoDate): UkTaxYear {
  const day = parseOrThrow(date);
  const year = day.getUTCFullYear();
  const month = day.getUTCMonth() + 1;
  const onOrAfterSixthApril = month > 4 || (month === 4 && day.getUTCDate() >= 6);
  const startYear = onOrAfterSixthApril ? year : year - 1;
  const endYear = startYear + 1;
  return {
    label: `${String(startYear).padStart(4, '0')}-${String(endYear % 100).padStart(2, '0')}`,
    start: `${String(startYear).padStart(4, '0')}-04-06`,
    end: `${String(endYear).padStart(4, '0')}-04-05`,
  };
}
