/**
 * Money received, totalled the way benefits and tax count it: by the Europe/London date a
 * payment counts as received (a payout item's `paymentDate` once it is paid), never by the
 * date the work was done.
 *
 * A statement's range is a window onto whole periods: each UK tax year and each earnings-limit
 * period that the range touches is totalled whole, because a benefits office asks "what was
 * paid in that assessment period", not "what was paid between two dates someone chose".
 *
 * Pure functions on plain values: no I/O, no clock (`today` is passed in).
 */
import { limitOn, periodOf, versionOn, type EarningsLimitVersion } from '../../domain/earnings-limit.js';
import { addDays, ukTaxYear, type DateRange, type IsoDate, type UkTaxYear } from '../../domain/earnings-period.js';
import { sumMinorUnits } from '../../domain/money.js';

/** The UK trading allowance: £1,000 of trading income a tax year, in pence. */
export const TRADING_ALLOWANCE = 100_000;

/** What was received on one day, in minor units. */
export interface ReceivedOnDay {
  paymentDate: IsoDate;
  earnings: number;
  expenses: number;
}

export interface PeriodReceived {
  from: IsoDate;
  to: IsoDate;
  /** The limit of the version in force on the period's last day (today's, for the current period). */
  limit: number | null;
  earningsPaid: number;
  /** limit − earningsPaid, not below 0; null without a limit. */
  headroom: number | null;
}

export interface TaxYearReceived {
  taxYear: string;
  from: IsoDate;
  to: IsoDate;
  earningsPaid: number;
  expensesPaid: number;
  /** What is left of the £1,000 trading allowance, not below 0. */
  tradingAllowanceRemaining: number;
}

/** Every UK tax year the range touches, oldest first. */
export function taxYearsTouched(range: DateRange): UkTaxYear[] {
  const years: UkTaxYear[] = [];
  for (let year = ukTaxYear(range.start); year.start <= range.end; year = ukTaxYear(addDays(year.end, 1))) years.push(year);
  return years;
}

/**
 * Every earnings-limit period the range touches, oldest first, each with the limit that judges
 * it: the version in force on its last day, or today's for the period that contains today.
 *
 * The periods' shape (weekly or monthly, and the day they start) comes from the version in force
 * where each period begins, as the payout run finds it. A stretch with no limit has no periods;
 * a version that starts inside the range starts periods again from the period containing its
 * first day. Where a new version changes the shape, its first period is the one its own shape
 * puts that day in, which may overlap the last period of the old shape: both are shown, as each
 * is how a payment on its days was judged.
 */
export function limitPeriodsTouched(versions: readonly EarningsLimitVersion[], range: DateRange, today: IsoDate): (DateRange & { limit: number | null })[] {
  const periods: (DateRange & { limit: number | null })[] = [];
  const starts = versions.map((v) => v.effectiveFrom).sort();
  let day = range.start;
  while (day <= range.end) {
    const version = versionOn(versions, day);
    if (!version?.period || version.periodStartDay === null) {
      // No limit here: go on from the next version that starts after this day, if any.
      const next = starts.find((start) => start > day);
      if (!next) break;
      day = next;
      continue;
    }
    const period = periodOf({ period: version.period, periodStartDay: version.periodStartDay }, day);
    const judgedOn = period.start <= today && today <= period.end ? today : period.end;
    periods.push({ start: period.start, end: period.end, limit: limitOn(versions, judgedOn)?.amount ?? null });
    day = period.nextStart;
  }
  return periods;
}

const within = (day: ReceivedOnDay, range: DateRange) => range.start <= day.paymentDate && day.paymentDate <= range.end;

/** Earnings and expenses received in a range of dates (inclusive). */
export function receivedIn(days: readonly ReceivedOnDay[], range: DateRange) {
  const inRange = days.filter((day) => within(day, range));
  return { earnings: sumMinorUnits(inRange.map((d) => d.earnings)), expenses: sumMinorUnits(inRange.map((d) => d.expenses)) };
}

/** The dates a statement's totals need money for: from the first touched period's start to the last one's end. */
export function totalsSpan(range: DateRange, versions: readonly EarningsLimitVersion[], today: IsoDate): DateRange {
  const spans: DateRange[] = [...taxYearsTouched(range), ...limitPeriodsTouched(versions, range, today)];
  return {
    start: spans.reduce((min, s) => (s.start < min ? s.start : min), range.start),
    end: spans.reduce((max, s) => (s.end > max ? s.end : max), range.end),
  };
}

/** Totals per tax year and per earnings-limit period that the range touches, each whole. */
export function receivedTotals(days: readonly ReceivedOnDay[], range: DateRange, versions: readonly EarningsLimitVersion[], today: IsoDate) {
  const periods: PeriodReceived[] = limitPeriodsTouched(versions, range, today).map((period) => {
    const { earnings } = receivedIn(days, period);
    return {
      from: period.start,
      to: period.end,
      limit: period.limit,
      earningsPaid: earnings,
      headroom: period.limit === null ? null : Math.max(0, period.limit - earnings),
    };
  });
  const taxYears: TaxYearReceived[] = taxYearsTouched(range).map((year) => {
    const { earnings, expenses } = receivedIn(days, year);
    return {
      taxYear: year.label,
      from: year.start,
      to: year.end,
      earningsPaid: earnings,
      expensesPaid: expenses,
      tradingAllowanceRemaining: Math.max(0, TRADING_ALLOWANCE - earnings),
    };
  });
  return { periods, taxYears };
}
