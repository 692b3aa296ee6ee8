import t from 'tap';
import fc from 'fast-check';
import { dueSlot, isoWeekday, latestSlot, nextSlot, slotOn, type ScheduleTiming } from '../../src/domain/payout-schedule.js';
import { londonDate, londonTime } from '../../src/domain/uk-time.js';

const at = (iso: string) => new Date(iso);
const iso = (d: Date | null) => d?.toISOString() ?? null;
const daily = (time: string): ScheduleTiming => ({ cadence: 'daily', weekday: null, time });
const weekly = (weekday: number, time: string): ScheduleTiming => ({ cadence: 'weekly', weekday, time });
const LONG_AGO = at('1990-01-01T00:00:00Z');

t.test('weekdays are ISO: Monday 1, Sunday 7', async (t) => {
  t.equal(isoWeekday('2026-03-02'), 1, '2 March 2026 is a Monday');
  t.equal(isoWeekday('2026-03-07'), 6);
  t.equal(isoWeekday('2026-03-08'), 7, 'a Sunday is 7, not 0');
  t.equal(slotOn(weekly(2, '09:30'), '2026-03-02'), null, 'a weekly schedule has no slot on other days');
  t.equal(iso(slotOn(weekly(2, '09:30'), '2026-03-03')), '2026-03-03T09:30:00.000Z');
});

t.test('a daily slot is the UK time, in winter and in summer', async (t) => {
  const twoPm = daily('14:00');
  t.equal(iso(latestSlot(twoPm, at('2026-01-10T15:00:00Z'))), '2026-01-10T14:00:00.000Z', 'GMT: 14:00 is 14:00 UTC');
  t.equal(iso(latestSlot(twoPm, at('2026-01-10T13:59:59Z'))), '2026-01-09T14:00:00.000Z', 'before today’s, the latest is yesterday’s');
  t.equal(iso(latestSlot(twoPm, at('2026-01-10T14:00:00Z'))), '2026-01-10T14:00:00.000Z', 'a slot is due at its very moment');
  t.equal(iso(latestSlot(twoPm, at('2026-07-10T13:30:00Z'))), '2026-07-10T13:00:00.000Z', 'BST: 14:00 is 13:00 UTC');
  t.equal(iso(nextSlot(twoPm, at('2026-07-10T13:30:00Z'))), '2026-07-11T13:00:00.000Z');
  t.equal(iso(nextSlot(twoPm, at('2026-07-10T12:00:00Z'))), '2026-07-10T13:00:00.000Z');
  t.equal(iso(nextSlot(twoPm, at('2026-07-10T13:00:00Z'))), '2026-07-10T13:00:00.000Z', 'at or after');
  // Late evening in summer is already the next UK day.
  t.equal(iso(latestSlot(daily('00:15'), at('2026-07-10T23:30:00Z'))), '2026-07-10T23:15:00.000Z', '00:15 BST on 11 July');
});

t.test('a weekly slot looks back and ahead up to a week', async (t) => {
  const tuesday = weekly(2, '09:00');
  // Tuesday 3 March 2026 at 08:00: this week’s slot is still to come.
  t.equal(iso(latestSlot(tuesday, at('2026-03-03T08:00:00Z'))), '2026-02-24T09:00:00.000Z');
  t.equal(iso(nextSlot(tuesday, at('2026-03-03T08:00:00Z'))), '2026-03-03T09:00:00.000Z');
  t.equal(iso(nextSlot(tuesday, at('2026-03-03T09:00:01Z'))), '2026-03-10T09:00:00.000Z');
  t.equal(iso(latestSlot(weekly(7, '23:59'), at('2026-03-07T12:00:00Z'))), '2026-03-01T23:59:00.000Z', 'Sunday');
});

t.test('spring forward: a slot in the skipped hour happens an hour later that day, once', async (t) => {
  // Clocks go forward at 01:00 GMT on Sunday 29 March 2026: 01:00–01:59 do not exist.
  const early = daily('01:30');
  t.equal(iso(slotOn(early, '2026-03-28')), '2026-03-28T01:30:00.000Z', '01:30 GMT the day before');
  t.equal(iso(slotOn(early, '2026-03-29')), '2026-03-29T01:30:00.000Z', '01:30 GMT, which the clocks call 02:30 BST');
  t.equal(londonTime(slotOn(early, '2026-03-29')!), '02:30');
  t.equal(iso(slotOn(early, '2026-03-30')), '2026-03-30T00:30:00.000Z', '01:30 BST the day after');
  t.equal(iso(latestSlot(early, at('2026-03-29T01:10:00Z'))), '2026-03-28T01:30:00.000Z', 'at 02:10 BST it has not come yet');
  t.equal(iso(nextSlot(early, at('2026-03-29T00:59:00Z'))), '2026-03-29T01:30:00.000Z');
  t.equal(iso(latestSlot(early, at('2026-03-29T12:00:00Z'))), '2026-03-29T01:30:00.000Z', 'the day still has its slot');
  // A slot just after the gap is unaffected, and stays after the shifted one.
  t.equal(iso(slotOn(daily('02:00'), '2026-03-29')), '2026-03-29T01:00:00.000Z');
  t.equal(londonDate(slotOn(early, '2026-03-29')!), '2026-03-29');
});

t.test('fall back: a slot in the repeated hour is its first pass, once', async (t) => {
  // Clocks go back at 02:00 BST (01:00 GMT) on Sunday 25 October 2026: 01:00–01:59 happen twice.
  const early = daily('01:30');
  t.equal(iso(slotOn(early, '2026-10-25')), '2026-10-25T00:30:00.000Z', '01:30 BST, the first pass');
  // At the second 01:30 (01:30 GMT) and after, the latest slot is still the first pass.
  t.equal(iso(latestSlot(early, at('2026-10-25T01:30:00Z'))), '2026-10-25T00:30:00.000Z');
  t.equal(iso(latestSlot(early, at('2026-10-25T01:45:00Z'))), '2026-10-25T00:30:00.000Z');
  t.equal(iso(nextSlot(early, at('2026-10-25T00:31:00Z'))), '2026-10-26T01:30:00.000Z', 'the next is tomorrow’s, in GMT');
  t.equal(iso(nextSlot(weekly(7, '01:30'), at('2026-10-20T00:00:00Z'))), '2026-10-25T00:30:00.000Z');
});

t.test('only slots at or after the schedule was set count', async (t) => {
  const schedule = { ...daily('14:00'), updatedAt: at('2026-01-10T15:00:00Z') };
  t.equal(dueSlot(schedule, at('2026-01-10T15:00:30Z')), null, 'set at 15:00 for 14:00: today’s slot was before it');
  t.equal(dueSlot(schedule, at('2026-01-11T13:59:00Z')), null);
  t.equal(iso(dueSlot(schedule, at('2026-01-11T14:00:00Z'))), '2026-01-11T14:00:00.000Z', 'the first is tomorrow’s');
  const setAtTheSlot = { ...daily('14:00'), updatedAt: at('2026-01-10T14:00:00Z') };
  t.equal(iso(dueSlot(setAtTheSlot, at('2026-01-10T14:00:10Z'))), '2026-01-10T14:00:00.000Z', 'a slot at the very moment of setting counts');
});

t.test('after a long outage only the latest slot is due', async (t) => {
  const schedule = { ...daily('09:00'), updatedAt: at('2026-01-01T00:00:00Z') };
  // Ten days with no process running: the due slot is today’s, not the nine before it.
  t.equal(iso(dueSlot(schedule, at('2026-01-12T10:00:00Z'))), '2026-01-12T09:00:00.000Z');
  // Before today’s, yesterday’s (within one period of now), never an older one.
  t.equal(iso(dueSlot(schedule, at('2026-01-12T08:00:00Z'))), '2026-01-11T09:00:00.000Z');
  const weeklyOne = { ...weekly(1, '09:00'), updatedAt: at('2026-01-01T00:00:00Z') };
  t.equal(iso(dueSlot(weeklyOne, at('2026-03-01T12:00:00Z'))), '2026-02-23T09:00:00.000Z', 'two months later: last Monday’s only');
});

const timings = fc.record({
  cadence: fc.constantFrom('daily' as const, 'weekly' as const),
  weekday: fc.integer({ min: 1, max: 7 }),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.integer({ min: 0, max: 59 }),
}).map(({ cadence, weekday, hour, minute }): ScheduleTiming => ({
  cadence,
  weekday: cadence === 'weekly' ? weekday : null,
  time: `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`,
}));
/** 01:00–01:59 on the last Sunday of March, which UK clocks skip (the rule since 1996). */
const inSkippedHour = (date: string, time: string) =>
  date.slice(5, 7) === '03' && Number(date.slice(8)) >= 25 && isoWeekday(date) === 7 && time.startsWith('01:');
const moments = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true });

t.test('slots: the latest is at or before, the next at or after, nothing between, at the schedule’s time', async () => {
  fc.assert(
    fc.property(timings, moments, (timing, moment) => {
      const latest = latestSlot(timing, moment);
      const next = nextSlot(timing, moment);
      if (latest > moment || next < moment) return false;
      // No slot lies strictly between the latest and `moment`: the one after the latest is past it.
      const afterLatest = nextSlot(timing, new Date(latest.getTime() + 1));
      if (afterLatest.getTime() <= moment.getTime()) return false;
      // Consecutive slots are one period apart, give or take the hour a clock change moves.
      const period = (timing.cadence === 'daily' ? 1 : 7) * 86_400_000;
      if (Math.abs(afterLatest.getTime() - latest.getTime() - period) > 3_600_000) return false;
      for (const slot of [latest, next]) {
        if (timing.cadence === 'weekly' && isoWeekday(londonDate(slot)) !== timing.weekday) return false;
        // The UK clock shows the schedule's time, except in the hour skipped in spring (an hour later).
        const shown = londonTime(slot) === timing.time;
        const skipped = inSkippedHour(londonDate(slot), timing.time) && slot.toISOString().slice(11, 16) === timing.time;
        if (!shown && !skipped) return false;
      }
      // A slot that has just come is due; due slots count only from the schedule's setting.
      const due = dueSlot({ ...timing, updatedAt: LONG_AGO }, moment);
      return due?.getTime() === latest.getTime() && dueSlot({ ...timing, updatedAt: new Date(latest.getTime() + 1) }, moment) === null;
    }),
    { numRuns: 3000 },
  );
});
