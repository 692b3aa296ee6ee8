import t from 'tap';
import fc from 'fast-check';
import {
  addDays,
  daysBetween,
  isIsoDate,
  limitPeriod,
  ukTaxYear,
  type EarningsLimitPeriod,
} from '../../src/domain/earnings-period.js';

t.test('isIsoDate accepts real calendar dates only', async (t) => {
  const cases: Array<[string, boolean]> = [
    ['2025-04-06', true],
    ['2028-02-29', true], // leap year
    ['2000-02-29', true], // divisible by 400: leap
    ['1900-02-29', false], // divisible by 100 but not 400: not leap
    ['2027-02-29', false],
    ['2025-04-31', false],
    ['2025-13-01', false],
    ['2025-00-10', false],
    ['2025-01-00', false],
    ['2025-1-01', false],
    ['20250406', false],
    ['2025-04-06T00:00:00Z', false],
    [' 2025-04-06', false],
    ['', false],
  ];
  for (const [value, ok] of cases) t.equal(isIsoDate(value), ok, JSON.stringify(value));
});

t.test('addDays and daysBetween', async (t) => {
  const cases: Array<[string, number, string]> = [
    ['2025-04-06', 0, '2025-04-06'],
    ['2025-12-31', 1, '2026-01-01'],
    ['2026-01-01', -1, '2025-12-31'],
    ['2028-02-28', 1, '2028-02-29'],
    ['2028-02-29', 1, '2028-03-01'],
    ['2027-02-28', 1, '2027-03-01'],
    ['2025-03-29', 2, '2025-03-31'], // across the clocks going forward in the UK
    ['2024-01-01', 366, '2025-01-01'],
  ];
  for (const [date, days, expected] of cases) {
    t.equal(addDays(date, days), expected, `${date} + ${days}`);
    t.equal(daysBetween(date, expected), days, `${date} → ${expected}`);
  }
  t.throws(() => addDays('2025-02-30', 1), RangeError);
  t.throws(() => addDays('2025-02-01', 0.5), RangeError);
});

t.test('weekly limit periods', async (t) => {
  // 2025-04-09 is a Wednesday; 2028-02-29 a Tuesday; 2025-12-31 a Wednesday.
  const cases: Array<[number, string, string, string, string]> = [
    [1, '2025-04-09', '2025-04-07', '2025-04-13', 'Monday weeks, midweek'],
    [1, '2025-04-07', '2025-04-07', '2025-04-13', 'Monday weeks, on the Monday'],
    [1, '2025-04-13', '2025-04-07', '2025-04-13', 'Monday weeks, on the Sunday'],
    [3, '2025-04-09', '2025-04-09', '2025-04-15', 'Wednesday weeks, on the start day'],
    [4, '2025-04-09', '2025-04-03', '2025-04-09', 'Thursday weeks, on the last day'],
    [7, '2025-04-09', '2025-04-06', '2025-04-12', 'Sunday weeks'],
    [1, '2025-12-31', '2025-12-29', '2026-01-04', 'across the year end'],
    [5, '2026-01-01', '2025-12-26', '2026-01-01', 'Friday weeks, New Year'],
    [1, '2028-02-29', '2028-02-28', '2028-03-05', 'leap day'],
    [3, '2028-03-01', '2028-03-01', '2028-03-07', 'day after a leap day'],
    [2, '2028-03-01', '2028-02-29', '2028-03-06', 'week starting on a leap day'],
  ];
  for (const [periodStartDay, date, start, end, name] of cases) {
    t.same(limitPeriod({ period: 'week', periodStartDay }, date), { start, end }, name);
  }
});

t.test('monthly limit periods', async (t) => {
  const cases: Array<[number, string, string, string, string]> = [
    [15, '2025-01-20', '2025-01-15', '2025-02-14', 'start 15: 15 Jan – 14 Feb'],
    [15, '2025-01-15', '2025-01-15', '2025-02-14', 'start 15: on the start day'],
    [15, '2025-01-14', '2024-12-15', '2025-01-14', 'start 15: the day before, across the year end'],
    [15, '2025-12-20', '2025-12-15', '2026-01-14', 'start 15: December into January'],
    [1, '2025-02-10', '2025-02-01', '2025-02-28', 'start 1: February'],
    [1, '2028-02-10', '2028-02-01', '2028-02-29', 'start 1: leap February'],
    [1, '2025-12-31', '2025-12-01', '2025-12-31', 'start 1: December'],
    [1, '2026-01-01', '2026-01-01', '2026-01-31', 'start 1: January'],
    [28, '2028-02-29', '2028-02-28', '2028-03-27', 'start 28: leap day'],
    [28, '2026-01-05', '2025-12-28', '2026-01-27', 'start 28: across the year end'],
    [28, '2025-03-27', '2025-02-28', '2025-03-27', 'start 28: a 27-day-later end in March'],
    [15, '2028-02-29', '2028-02-15', '2028-03-14', 'start 15: leap day inside'],
    [28, '2025-01-31', '2025-01-28', '2025-02-27', 'start 28 from a 31st'],
    [6, '2026-04-05', '2026-03-06', '2026-04-05', 'start 6: the tax year end'],
    // Universal Credit claims that began on the 29th-31st: in a shorter month the period starts on its last day.
    [31, '2026-01-31', '2026-01-31', '2026-02-27', 'start 31: January 31st, next starts 28 February'],
    [31, '2026-02-28', '2026-02-28', '2026-03-30', 'start 31: February\'s last day'],
    [31, '2026-03-30', '2026-02-28', '2026-03-30', 'start 31: the day before March 31st'],
    [31, '2026-03-31', '2026-03-31', '2026-04-29', 'start 31: next starts 30 April'],
    [31, '2026-04-30', '2026-04-30', '2026-05-30', 'start 31: April 30th'],
    [30, '2028-02-29', '2028-02-29', '2028-03-29', 'start 30: leap February\'s last day'],
    [29, '2027-02-28', '2027-02-28', '2027-03-28', 'start 29: a February without a 29th'],
    [29, '2026-12-31', '2026-12-29', '2027-01-28', 'start 29: across the year end'],
  ];
  for (const [periodStartDay, date, start, end, name] of cases) {
    t.same(limitPeriod({ period: 'month', periodStartDay }, date), { start, end }, name);
  }
});

t.test('limitPeriod refuses bad start days and dates', async (t) => {
  const bad: EarningsLimitPeriod[] = [
    { period: 'week', periodStartDay: 0 },
    { period: 'week', periodStartDay: 8 },
    { period: 'week', periodStartDay: 1.5 },
    { period: 'month', periodStartDay: 0 },
    { period: 'month', periodStartDay: 32 },
    { period: 'month', periodStartDay: 2.5 },
  ];
  for (const limit of bad) t.throws(() => limitPeriod(limit, '2025-04-09'), RangeError, JSON.stringify(limit));
  t.throws(() => limitPeriod({ period: 'week', periodStartDay: 1 }, '2027-02-29'), RangeError, 'not a date');
});

t.test('UK tax years start on 6 April', async (t) => {
  const cases: Array<[string, string, string, string]> = [
    ['2025-04-05', '2024-25', '2024-04-06', '2025-04-05'],
    ['2025-04-06', '2025-26', '2025-04-06', '2026-04-05'],
    ['2025-12-31', '2025-26', '2025-04-06', '2026-04-05'],
    ['2026-01-01', '2025-26', '2025-04-06', '2026-04-05'],
    ['2026-04-05', '2025-26', '2025-04-06', '2026-04-05'],
    ['2028-02-29', '2027-28', '2027-04-06', '2028-04-05'],
    ['1999-04-06', '1999-00', '1999-04-06', '2000-04-05'],
    ['2025-01-01', '2024-25', '2024-04-06', '2025-04-05'],
  ];
  for (const [date, label, start, end] of cases) {
    t.same(ukTaxYear(date), { label, start, end }, date);
  }
  t.throws(() => ukTaxYear('2025-02-29'), RangeError);
});

const isoDate = fc
  .date({ min: new Date('1900-03-01T00:00:00Z'), max: new Date('2199-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));

/** The last day of the month a date is in (28–31). */
const lastDayOfMonth = (date: string) => new Date(Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)), 0)).getUTCDate();

const limitShape: fc.Arbitrary<EarningsLimitPeriod> = fc.oneof(
  fc.record({ period: fc.constant('week' as const), periodStartDay: fc.integer({ min: 1, max: 7 }) }),
  fc.record({ period: fc.constant('month' as const), periodStartDay: fc.integer({ min: 1, max: 31 }) }),
);

t.test('property: every date lies in its own period, of the right length and start', async (t) => {
  fc.assert(
    fc.property(limitShape, isoDate, (limit, date) => {
      const { start, end } = limitPeriod(limit, date);
      const length = daysBetween(start, end) + 1;
      const lengthOk = limit.period === 'week' ? length === 7 : length >= 28 && length <= 31;
      const startDate = new Date(`${start}T00:00:00Z`);
      const startOk =
        limit.period === 'week'
          ? ((startDate.getUTCDay() + 6) % 7) + 1 === limit.periodStartDay
          : startDate.getUTCDate() === Math.min(limit.periodStartDay, lastDayOfMonth(start));
      return start <= date && date <= end && lengthOk && startOk;
    }),
  );
  t.pass('property held');
});

t.test('property: consecutive periods tile without gaps or overlaps', async (t) => {
  fc.assert(
    fc.property(limitShape, isoDate, (limit, date) => {
      const period = limitPeriod(limit, date);
      const next = limitPeriod(limit, addDays(period.end, 1));
      const previous = limitPeriod(limit, addDays(period.start, -1));
      // Every day of the period maps back to the same period.
      const sameForStartAndEnd =
        JSON.stringify(limitPeriod(limit, period.start)) === JSON.stringify(period) &&
        JSON.stringify(limitPeriod(limit, period.end)) === JSON.stringify(period);
      return (
        next.start === addDays(period.end, 1) &&
        previous.end === addDays(period.start, -1) &&
        sameForStartAndEnd
      );
    }),
  );
  t.pass('property held');
});

t.test('property: every date lies in its tax year, which runs 6 April to 5 April', async (t) => {
  fc.assert(
    fc.property(isoDate, (date) => {
      const year = ukTaxYear(date);
      const length = daysBetween(year.start, year.end) + 1;
      return (
        year.start <= date &&
        date <= year.end &&
        year.start.endsWith('-04-06') &&
        year.end.endsWith('-04-05') &&
        (length === 365 || length === 366) &&
        ukTaxYear(addDays(year.end, 1)).start === addDays(year.end, 1)
      );
    }),
  );
  t.pass('property held');
});
