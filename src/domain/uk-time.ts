/**
 * UK calendar dates from moments. Benefits (ESA weeks, Universal Credit assessment periods)
 * and tax (the 6 April to 5 April year) count money by the day it was received in the UK, so
 * every date taken from a moment — "today", the day a payment was made, the day a reversal was
 * posted — is the calendar date in Europe/London, never UTC's. Between the last Sunday of
 * March and the last Sunday of October the UK is an hour ahead of UTC, so 23:30 UTC on 5 April
 * is already 6 April in London, and in the new tax year.
 */
import type { IsoDate } from './earnings-period.js';

export const UK_TIME_ZONE = 'Europe/London';

// en-CA formats a date as YYYY-MM-DD; one cached formatter serves every call.
const londonDay = new Intl.DateTimeFormat('en-CA', { timeZone: UK_TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit' });
const londonClock = new Intl.DateTimeFormat('en-GB', {
  timeZone: UK_TIME_ZONE,
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});

/**
 * Since 1848 the UK's offset from UTC has been a whole number of hours (GMT, BST, and the double
 * summer time of the 1940s), so its date changes only on a UTC hour: the last hour's date is kept,
 * and a request asking for today in the same hour is answered without formatting a date again.
 */
const WHOLE_HOUR_OFFSETS_FROM = Date.UTC(1848, 0, 1);
let lastHour = Number.NaN;
let lastHoursDate = '';

/** The calendar date in the UK at a moment, as YYYY-MM-DD. */
export function londonDate(moment: Date): IsoDate {
  const ms = moment.getTime();
  if (!(ms >= WHOLE_HOUR_OFFSETS_FROM)) return londonDay.format(moment);
  const hour = Math.floor(ms / 3_600_000);
  if (hour !== lastHour) {
    lastHoursDate = londonDay.format(moment);
    lastHour = hour;
  }
  return lastHoursDate;
}

/** The wall-clock time in the UK at a moment, as HH:MM (24-hour). */
export function londonTime(moment: Date): string {
  return londonClock.format(moment);
}

/**
 * The moment a UK wall-clock time happens on a UK date. In the hour skipped when clocks go
 * forward, the time is read as if the clocks had not yet changed (01:30 on the last Sunday of
 * March is 01:30 GMT, which is 02:30 BST); in the hour repeated when they go back, the first.
 */
export function londonMoment(date: IsoDate, time: string): Date {
  const wall = Date.parse(`${date}T${time}:00Z`);
  // London is UTC+0 or UTC+1: try the later offset first, so a repeated hour takes its first pass.
  for (const offsetHours of [1, 0]) {
    const candidate = new Date(wall - offsetHours * 3_600_000);
    if (londonDate(candidate) === date && londonTime(candidate) === time) return candidate;
  }
  return new Date(wall);
}
