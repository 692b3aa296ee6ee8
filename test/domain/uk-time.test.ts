import t from 'tap';
import fc from 'fast-check';
import { ukTaxYear } from '../../src/domain/earnings-period.js';
import { londonDate, londonMoment, londonTime } from '../../src/domain/uk-time.js';

t.test('a moment is dated by the UK calendar, not UTC', async (t) => {
  // 23:30 UTC on 5 April 2026 is 00:30 BST on 6 April: the new tax year.
  const lateUtc = new Date('2026-04-05T23:30:00Z');
  t.equal(londonDate(lateUtc), '2026-04-06');
  t.equal(ukTaxYear(londonDate(lateUtc)).label, '2026-27');
  // 22:59 UTC on 5 April is still 23:59 BST on 5 April: the old tax year.
  t.equal(londonDate(new Date('2026-04-05T22:59:00Z')), '2026-04-05');
  t.equal(ukTaxYear(londonDate(new Date('2026-04-05T22:59:00Z'))).label, '2025-26');
  // In winter London is on GMT: 23:30 UTC is 23:30 the same day.
  t.equal(londonDate(new Date('2026-01-05T23:30:00Z')), '2026-01-05');
  t.equal(londonTime(new Date('2026-01-05T23:30:00Z')), '23:30');
  t.equal(londonTime(new Date('2026-07-05T23:30:00Z')), '00:30');
});

t.test('a UK wall-clock time becomes the right moment across clock changes', async (t) => {
  t.equal(londonMoment('2026-07-01', '09:00').toISOString(), '2026-07-01T08:00:00.000Z', 'BST is UTC+1');
  t.equal(londonMoment('2026-12-01', '09:00').toISOString(), '2026-12-01T09:00:00.000Z', 'GMT is UTC+0');
  // Clocks go forward at 01:00 GMT on 29 March 2026: 01:30 does not exist on the wall.
  t.equal(londonMoment('2026-03-29', '01:30').toISOString(), '2026-03-29T01:30:00.000Z', 'the skipped hour reads as GMT');
  // Clocks go back at 02:00 BST on 25 October 2026: 01:30 happens twice; the first is BST.
  t.equal(londonMoment('2026-10-25', '01:30').toISOString(), '2026-10-25T00:30:00.000Z', 'the repeated hour takes its first pass');
  t.equal(londonMoment('2026-10-25', '03:00').toISOString(), '2026-10-25T03:00:00.000Z');
});

t.test('londonMoment and londonDate/londonTime agree for every real wall-clock time', async () => {
  fc.assert(
    fc.property(fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }), (moment) => {
      const whole = new Date(Math.floor(moment.getTime() / 60_000) * 60_000);
      const back = londonMoment(londonDate(whole), londonTime(whole));
      // Only the repeated autumn hour is ambiguous; there the first pass is chosen, an hour earlier.
      const diff = whole.getTime() - back.getTime();
      return diff === 0 || diff === 3_600_000;
    }),
    { numRuns: 2000 },
  );
});

t.test("londonDate keeps the last hour's date: every moment of every hour still gets its own UK date", async (t) => {
  // What London's calendar says, formatted afresh each time.
  const fresh = (moment: Date) =>
    new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London', year: 'numeric', month: '2-digit', day: '2-digit' }).format(moment);
  fc.assert(
    fc.property(
      fc.date({ min: new Date('1800-01-01T00:00:00Z'), max: new Date('2200-12-31T00:00:00Z'), noInvalidDate: true }),
      fc.array(fc.integer({ min: -7_200_000, max: 7_200_000 }), { minLength: 1, maxLength: 8 }),
      (start, steps) => {
        // Moments close together, in the same hour and either side of it, in any order.
        const moments = [start, ...steps.map((step) => new Date(start.getTime() + step))];
        return moments.every((moment) => londonDate(moment) === fresh(moment));
      },
    ),
    { numRuns: 3000 },
  );
  // Either side of each midnight, in both offsets, after a call in the same hour.
  for (const [before, after, dates] of [
    ['2026-04-05T22:59:59.999Z', '2026-04-05T23:00:00.000Z', ['2026-04-05', '2026-04-06']],
    ['2026-01-05T23:59:59.999Z', '2026-01-06T00:00:00.000Z', ['2026-01-05', '2026-01-06']],
    ['2026-10-24T22:59:59.999Z', '2026-10-24T23:00:00.000Z', ['2026-10-24', '2026-10-25']],
  ] as const) {
    t.equal(londonDate(new Date(before)), dates[0], before);
    t.equal(londonDate(new Date(after)), dates[1], after);
    t.equal(londonDate(new Date(before)), dates[0], `${before} again`);
  }
  // Before 1848 London kept its own mean time, 75 seconds behind GMT: such moments are formatted.
  t.equal(londonDate(new Date('1800-01-02T00:00:30Z')), '1800-01-01');
  t.throws(() => londonDate(new Date(Number.NaN)), RangeError, 'an invalid date is refused, as before');
});
