/**
 * When a payout schedule's slots fall. A schedule says "every day at 14:00" or "every Tuesday at
 * 09:30" in UK wall-clock time (Europe/London), so a slot is a moment found from a UK date and a
 * UK time: 14:00 is 13:00 UTC in summer and 14:00 UTC in winter.
 *
 * Twice a year the wall clock is not a plain clock. On the last Sunday of March the hour from
 * 01:00 to 02:00 does not exist: a slot set in it happens an hour later than written (01:30 is
 * 01:30 GMT, which the clocks call 02:30), so the run is still drafted that day, and still after
 * any slot earlier in the day. On the last Sunday of October the hour from 01:00 to 02:00 happens
 * twice: the slot is its first pass, once (see `londonMoment`).
 *
 * Pure: plain values in, plain values out; the service (modules/payouts/schedule.ts) decides
 * what to draft with them.
 */
import { addDays, type IsoDate } from './earnings-period.js';
import type { ScheduleCadence } from './enums.js';
import { londonDate, londonMoment } from './uk-time.js';

export interface ScheduleTiming {
  cadence: ScheduleCadence;
  /** 1–7, Monday 1; only for weekly (null for daily). */
  weekday: number | null;
  /** "HH:MM", Europe/London. */
  time: string;
}

/** A schedule as stored: its timing and when it was last set (slots before that never count). */
export interface ScheduleState extends ScheduleTiming {
  updatedAt: Date;
}

/** ISO day of the week of a calendar date: Monday 1 … Sunday 7. */
export function isoWeekday(date: IsoDate): number {
  const day = new Date(`${date}T00:00:00Z`).getUTCDay();
  return day === 0 ? 7 : day;
}

/** The schedule's slot on a UK date, or null when the schedule has none that day (another weekday). */
export function slotOn(timing: ScheduleTiming, date: IsoDate): Date | null {
  if (timing.cadence === 'weekly' && isoWeekday(date) !== timing.weekday) return null;
  return londonMoment(date, timing.time);
}

// A weekly slot on today's weekday may be a week away (later today, or earlier today): today
// and the 7 days either side of it hold the slot searched for.
const SEARCH_DAYS = 7;

/** The latest slot at or before `moment`. */
export function latestSlot(timing: ScheduleTiming, moment: Date): Date {
  const today = londonDate(moment);
  for (let back = 0; back <= SEARCH_DAYS; back++) {
    const slot = slotOn(timing, addDays(today, -back));
    if (slot && slot.getTime() <= moment.getTime()) return slot;
  }
  throw new Error(`No slot found for ${JSON.stringify(timing)} before ${moment.toISOString()}`);
}

/** The first slot at or after `moment`. */
export function nextSlot(timing: ScheduleTiming, moment: Date): Date {
  const today = londonDate(moment);
  for (let ahead = 0; ahead <= SEARCH_DAYS; ahead++) {
    const slot = slotOn(timing, addDays(today, ahead));
    if (slot && slot.getTime() >= moment.getTime()) return slot;
  }
  throw new Error(`No slot found for ${JSON.stringify(timing)} after ${moment.toISOString()}`);
}

/**
 * The slot a schedule should have drafted by `now`, or null when there is none: the latest slot
 * at or before `now`, if it is not before the schedule was last set. A schedule set at 15:00 to
 * draft daily at 14:00 therefore first drafts tomorrow: it does not pay for the time before it
 * existed (nor does a changed schedule make up a slot its old timing never had).
 *
 * Only the latest slot is ever due, so it is never more than one cadence period old: after an
 * outage of a week a daily schedule drafts one run (today's, or yesterday's if today's is still
 * to come), not seven. The runs draft everything owed, so nothing is lost by skipping the others.
 */
export function dueSlot(schedule: ScheduleState, now: Date): Date | null {
  const slot = latestSlot(schedule, now);
  return slot.getTime() >= schedule.updatedAt.getTime() ? slot : null;
}
