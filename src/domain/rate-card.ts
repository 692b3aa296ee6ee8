/**
 * Rate cards: what an organisation pays for an activity, by kind of contributor, over time.
 *
 * A rate card has numbered versions, each effective from a date. A version is a complete set of
 * rates: a new version (say a 10% uplift from 1 April) replaces the previous one for work dated
 * on or after its `effectiveFrom`, and work dated before it keeps the older rates. Approved work
 * keeps the amount it was approved at; that is the ledger's business, not this module's.
 */

import { isIsoDate, type IsoDate } from './earnings-period.js';
import type { Activity, ContributorKind, RateUnit } from './enums.js';
import { isNonNegativeSafeInteger } from './money.js';

/** One rate within a rate-card version. How each field is applied is in `incentive.ts`. */
export interface Rate {
  activity: Activity;
  contributorKind: ContributorKind;
  unit: RateUnit;
  /** Minor units per unit (pence per hour, per session or per day). */
  amount: number;
  /** Hourly rates only: minutes are rounded up to the next multiple of this. */
  roundToMinutes?: number | null;
  /** Hourly rates only: fewer minutes than this are paid as this many. */
  minimumMinutes?: number | null;
  /** Values the time in reports without it ever being owed or paid (e.g. salaried staff). */
  inKind?: boolean;
  /**
   * Day rates only: the length of a full day in minutes. More minutes than this are still one
   * day; fewer are paid as `shortDayPay` says.
   *
   * Optional, also in new versions. Without it a day rate pays the full rate for any number of
   * minutes, which is what every stored version without it has always meant ("a day's work is a
   * day's pay, however long"), and it stays a choice an organisation can make. Requiring it
   * would refuse a new version that copies the previous one's rates (each version is the whole
   * card), and a day length alone changes nothing below it anyway: what does is `shortDayPay`,
   * and that is refused without a day length, so a rate that pays short days by part always says
   * how long a day is.
   */
  dayThresholdMinutes?: number | null;
  /**
   * Day rates with a `dayThresholdMinutes` only: how a day shorter than the threshold is paid.
   * - `half_day`: half the rate (rounded half up to the minor unit) for minutes up to and
   *   including half the threshold; the full rate for more than half.
   * - `pro_rata`: rate × minutes / threshold, rounded half up to the minor unit once.
   * Not set (as in every version stored before it existed): the full rate, however short the day.
   */
  shortDayPay?: ShortDayPay | null;
}

/**
 * How a day rate pays a day shorter than its `dayThresholdMinutes` (see {@link Rate.shortDayPay}).
 * Rates are stored as JSON, so there is no database constraint to keep in step with this list.
 */
export const shortDayPays = ['half_day', 'pro_rata'] as const;
export type ShortDayPay = (typeof shortDayPays)[number];

/** One effective-dated version of a rate card. */
export interface RateCardVersion {
  id: string;
  /** 1, 2, 3 … within the rate card. */
  version: number;
  /** The first date (`YYYY-MM-DD`) of work the version applies to. */
  effectiveFrom: IsoDate;
  rates: Rate[];
}

/** The version in force on a date and the rate in it for a contributor kind and activity. */
export interface RateMatch {
  version: RateCardVersion;
  rate: Rate;
}

/** What to look a rate up for. */
export interface RateQuery {
  contributorKind: ContributorKind;
  activity: Activity;
  /** The date the work was done, `YYYY-MM-DD`. */
  date: IsoDate;
}

/**
 * The version in force on `date`: the one with the greatest `effectiveFrom` on or before it.
 * A version takes over on its `effectiveFrom` exactly, so work on that day uses the new rates.
 * If two versions share an `effectiveFrom` (a same-day correction), the higher version number
 * wins. Returns null when no version had started by `date`.
 */
export function versionInForce(
  versions: readonly RateCardVersion[],
  date: IsoDate,
): RateCardVersion | null {
  if (!isIsoDate(date)) {
    throw new RangeError(`Expected a calendar date as YYYY-MM-DD, got "${date}"`);
  }
  let best: RateCardVersion | null = null;
  for (const candidate of versions) {
    // YYYY-MM-DD strings compare in calendar order.
    if (candidate.effectiveFrom > date) continue;
    if (
      best === null ||
      candidate.effectiveFrom > best.effectiveFrom ||
      (candidate.effectiveFrom === best.effectiveFrom && candidate.version > best.version)
    ) {
      best = candidate;
    }
  }
  return best;
}

/**
 * Finds the rate for a contributor kind and activity on a date: the version in force on that
 * date (see {@link versionInForce}) and, within it, the rate for that kind and activity.
 *
 * Returns null if no version had started by then, or if the version in force has no rate for
 * that kind and activity. It deliberately does not fall back to an older version: each version
 * is the whole card, so a rate left out of a new version has been withdrawn, and paying the old
 * one would be a guess.
 */
export function findRate(versions: readonly RateCardVersion[], query: RateQuery): RateMatch | null {
  const version = versionInForce(versions, query.date);
  if (version === null) return null;
  const rate = version.rates.find(
    (candidate) =>
      candidate.contributorKind === query.contributorKind && candidate.activity === query.activity,
  );
  return rate === undefined ? null : { version, rate };
}

/** Something wrong with one rate of a proposed version. */
export interface RateProblem {
  /** Index of the rate in the list. */
  index: number;
  field: keyof Rate;
  message: string;
}

function isPositiveSafeInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}

/**
 * Checks a proposed version's rates for what a schema cannot see: the same contributor kind and
 * activity listed twice (which would make {@link findRate} ambiguous), amounts that are not
 * non-negative safe integers, minute settings that are not positive whole minutes, and a
 * `shortDayPay` that is not one of {@link shortDayPays}, is on a rate that is not a day rate, or
 * has no `dayThresholdMinutes` to measure the day by. Returns every problem found, empty when
 * the rates are usable.
 */
export function validateRates(rates: readonly Rate[]): RateProblem[] {
  const problems: RateProblem[] = [];
  const seen = new Map<string, number>();
  rates.forEach((rate, index) => {
    const key = `${rate.contributorKind}/${rate.activity}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, index);
    } else {
      problems.push({
        index,
        field: 'activity',
        message: `Duplicate rate for ${rate.contributorKind} ${rate.activity} (also at index ${first})`,
      });
    }
    if (!isNonNegativeSafeInteger(rate.amount)) {
      problems.push({ index, field: 'amount', message: 'Amount must be a non-negative whole number of minor units' });
    }
    for (const field of ['roundToMinutes', 'minimumMinutes', 'dayThresholdMinutes'] as const) {
      const value = rate[field];
      if (value !== undefined && value !== null && !isPositiveSafeInteger(value)) {
        problems.push({ index, field, message: `${field} must be a positive whole number of minutes` });
      }
    }
    const shortDayPay: unknown = rate.shortDayPay;
    if (shortDayPay !== undefined && shortDayPay !== null) {
      if (!(shortDayPays as readonly unknown[]).includes(shortDayPay)) {
        problems.push({ index, field: 'shortDayPay', message: `shortDayPay must be one of ${shortDayPays.join(', ')}` });
      } else if (rate.unit !== 'day') {
        problems.push({ index, field: 'shortDayPay', message: 'shortDayPay applies to day rates only' });
      } else if (rate.dayThresholdMinutes === undefined || rate.dayThresholdMinutes === null) {
        problems.push({
          index,
          field: 'shortDayPay',
          message: 'shortDayPay needs dayThresholdMinutes: the length of the full day it pays part of',
        });
      }
    }
  });
  return problems;
}
