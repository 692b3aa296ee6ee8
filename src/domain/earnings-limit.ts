/**
 * Earnings limits, applied the way benefits count money: when it is paid.
 *
 * Universal Credit counts earnings in the assessment period in which they are received, ESA
 * permitted work in the benefit week in which they are paid, and HMRC in the tax year in which
 * they are paid. So the limit is not checked when work is approved (that only forecasts) but
 * when a payout run decides what to pay: against the period that contains the payment date,
 * counting what was already paid (or is on its way) in that period.
 *
 * A limit has a history: each contributor's limit is a list of dated versions, and a payment is
 * judged by the version in force on its payment date. The ESA permitted-work preset follows the
 * dated statutory weekly figures below, so a new April figure is one new row here, not an edit
 * of every person on it.
 *
 * Pure functions on plain values: no I/O, no clock.
 */
import { limitPeriod, type DateRange, type EarningsLimitPeriod, type IsoDate } from './earnings-period.js';
import type { EarningsLimitPolicy, EarningsPeriodKind } from './enums.js';
import { addDays } from './earnings-period.js';

/** Limits that follow statutory figures instead of an amount typed in. */
export const earningsLimitPresets = ['esa_permitted_work'] as const;
export type EarningsLimitPreset = (typeof earningsLimitPresets)[number];

/**
 * ESA permitted work (the higher limit), per week, from the day each figure took effect: the
 * first day of the benefit week in April when DWP uprates benefits. Newest last.
 */
export const ESA_PERMITTED_WORK_WEEKLY: readonly { effectiveFrom: IsoDate; amount: number }[] = [
  { effectiveFrom: '2024-04-08', amount: 18_350 },
  { effectiveFrom: '2025-04-07', amount: 19_550 },
];

/** A limit in force: how much may be earned per period, and what to do past it. */
export interface EarningsLimit extends EarningsLimitPeriod {
  /** The most that may be earned in one period, in minor units. */
  amount: number;
  policy: EarningsLimitPolicy;
}

/** One dated version of a contributor's limit. An `amount` of null (and no preset) ends the limit. */
export interface EarningsLimitVersion {
  effectiveFrom: IsoDate;
  period: EarningsPeriodKind | null;
  amount: number | null;
  periodStartDay: number | null;
  policy: EarningsLimitPolicy | null;
  preset: EarningsLimitPreset | null;
}

/** The statutory weekly figure in force on a date, or null before the first one. */
export function esaPermittedWorkOn(date: IsoDate): number | null {
  let amount: number | null = null;
  for (const figure of ESA_PERMITTED_WORK_WEEKLY) if (figure.effectiveFrom <= date) amount = figure.amount;
  return amount;
}

/**
 * The version in force on a date: the one with the latest `effectiveFrom` on or before it
 * (of two from the same day, the later in the list, which callers order by creation).
 */
export function versionOn<V extends { effectiveFrom: IsoDate }>(versions: readonly V[], date: IsoDate): V | null {
  let found: V | null = null;
  for (const version of versions) {
    if (version.effectiveFrom <= date && (!found || version.effectiveFrom >= found.effectiveFrom)) found = version;
  }
  return found;
}

/** The limit in force on a date, with a preset's amount resolved for that date; null if none. */
export function limitOn(versions: readonly EarningsLimitVersion[], date: IsoDate): EarningsLimit | null {
  const version = versionOn(versions, date);
  if (!version || !version.period || version.periodStartDay === null || !version.policy) return null;
  const amount = version.preset === 'esa_permitted_work' ? esaPermittedWorkOn(date) : version.amount;
  if (amount === null) return null;
  return { period: version.period, periodStartDay: version.periodStartDay, policy: version.policy, amount };
}

/** The period a limit puts a date in, and the first day of the next one. */
export function periodOf(limit: EarningsLimitPeriod, date: IsoDate): DateRange & { nextStart: IsoDate } {
  const period = limitPeriod(limit, date);
  return { ...period, nextStart: addDays(period.end, 1) };
}

/** A piece of owed earnings, oldest first: an approved entry's money not yet paid. */
export interface OwedPiece<K> {
  key: K;
  amount: number;
}

export interface PaymentPlan<K> {
  /** What to pay now, by piece (a piece may be paid in part under `split`). */
  pay: OwedPiece<K>[];
  paid: number;
  /** Earnings held back by `block` (whole pieces that would cross the limit). */
  held: number;
  /** Earnings left owed by `split` (what would cross the limit). */
  carriedForward: number;
  /** What the limit allowed in the period before this payment (never negative). */
  headroom: number;
  /** Set when `warn` pays past the limit. */
  overLimitBy: number;
}

/**
 * Decides how much of what is owed in earnings to pay in a period, oldest piece first.
 *
 * - No limit: everything.
 * - `warn`: everything; `overLimitBy` says by how much the period's limit is passed.
 * - `split`: up to the headroom, cutting the piece that crosses it; the rest stays owed
 *   (`carriedForward`) for a later period.
 * - `block`: whole pieces, oldest first, while they fit in the headroom; the first that does
 *   not fit and everything after it are held (`held`) for a later period. A piece larger than
 *   a whole period's limit can never be paid under `block` (the caller says so).
 *
 * Invariant (tested as a property): paid + held + carriedForward = the sum of the pieces, and
 * under `block` and `split` paidInPeriod + paid never exceeds the limit unless paidInPeriod
 * already did.
 */
export function planPayment<K>(limit: EarningsLimit | null, paidInPeriod: number, pieces: readonly OwedPiece<K>[]): PaymentPlan<K> {
  const total = pieces.reduce((sum, piece) => sum + piece.amount, 0);
  if (!limit) return { pay: [...pieces], paid: total, held: 0, carriedForward: 0, headroom: Infinity, overLimitBy: 0 };
  const headroom = Math.max(0, limit.amount - paidInPeriod);
  if (limit.policy === 'warn') {
    return { pay: [...pieces], paid: total, held: 0, carriedForward: 0, headroom, overLimitBy: Math.max(0, total - headroom) };
  }
  const pay: OwedPiece<K>[] = [];
  let room = headroom;
  for (const piece of pieces) {
    if (piece.amount <= room) {
      pay.push(piece);
      room -= piece.amount;
      continue;
    }
    if (limit.policy === 'split' && room > 0) {
      pay.push({ key: piece.key, amount: room });
      room = 0;
    }
    break;
  }
  const paid = headroom - room;
  const rest = total - paid;
  return {
    pay,
    paid,
    held: limit.policy === 'block' ? rest : 0,
    carriedForward: limit.policy === 'split' ? rest : 0,
    headroom,
    overLimitBy: 0,
  };
}
