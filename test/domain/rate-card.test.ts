import t from 'tap';
import fc from 'fast-check';
import { activities, contributorKinds } from '../../src/domain/enums.js';
import {
  findRate,
  validateRates,
  versionInForce,
  type Rate,
  type RateCardVersion,
} from '../../src/domain/rate-card.js';

const meeting = (amount: number, extra: Partial<Rate> = {}): Rate => ({
  activity: 'meeting',
  contributorKind: 'lived_experience',
  unit: 'hour',
  amount,
  ...extra,
});

/** A card with an uplift on 1 April 2025, a same-day correction, and a later version without workshops. */
const versions: RateCardVersion[] = [
  {
    id: 'v1',
    version: 1,
    effectiveFrom: '2024-01-01',
    rates: [meeting(2000), meeting(2500, { activity: 'workshop' }), meeting(0, { contributorKind: 'professional', inKind: true })],
  },
  {
    id: 'v2',
    version: 2,
    effectiveFrom: '2025-04-01',
    rates: [meeting(2200), meeting(2750, { activity: 'workshop' })],
  },
  {
    id: 'v3',
    version: 3,
    effectiveFrom: '2025-04-01', // same-day correction of v2: the higher version wins
    rates: [meeting(2250), meeting(2800, { activity: 'workshop' })],
  },
  {
    id: 'v4',
    version: 4,
    effectiveFrom: '2028-02-29', // a leap day
    rates: [meeting(2500)],
  },
];

t.test('findRate picks the version in force on the date', async (t) => {
  const cases: Array<{ date: string; activity: Rate['activity']; want: { id: string; amount: number } | null; name: string }> = [
    { name: 'before any version', date: '2023-12-31', activity: 'meeting', want: null },
    { name: 'first day of v1', date: '2024-01-01', activity: 'meeting', want: { id: 'v1', amount: 2000 } },
    { name: 'year end under v1', date: '2024-12-31', activity: 'meeting', want: { id: 'v1', amount: 2000 } },
    { name: 'day before the uplift', date: '2025-03-31', activity: 'meeting', want: { id: 'v1', amount: 2000 } },
    { name: 'uplift date exactly (tie: higher version)', date: '2025-04-01', activity: 'meeting', want: { id: 'v3', amount: 2250 } },
    { name: 'after the uplift', date: '2025-04-02', activity: 'workshop', want: { id: 'v3', amount: 2800 } },
    { name: 'day before the leap-day version', date: '2028-02-28', activity: 'meeting', want: { id: 'v3', amount: 2250 } },
    { name: 'leap day exactly', date: '2028-02-29', activity: 'meeting', want: { id: 'v4', amount: 2500 } },
    { name: 'after the leap day', date: '2028-03-01', activity: 'meeting', want: { id: 'v4', amount: 2500 } },
    { name: 'rate withdrawn in the version in force: no fallback', date: '2028-03-01', activity: 'workshop', want: null },
    { name: 'no such rate at all', date: '2025-01-01', activity: 'reading', want: null },
  ];
  for (const c of cases) {
    const found = findRate(versions, { contributorKind: 'lived_experience', activity: c.activity, date: c.date });
    t.same(found === null ? null : { id: found.version.id, amount: found.rate.amount }, c.want, c.name);
  }
});

t.test('findRate matches the contributor kind as well as the activity', async (t) => {
  const professional = findRate(versions, { contributorKind: 'professional', activity: 'meeting', date: '2024-06-01' });
  t.equal(professional?.rate.inKind, true);
  t.equal(findRate(versions, { contributorKind: 'carer', activity: 'meeting', date: '2024-06-01' }), null);
});

t.test('the order versions are listed in does not matter', async (t) => {
  const reversed = [...versions].reverse();
  for (const date of ['2024-01-01', '2025-04-01', '2028-02-29']) {
    t.equal(versionInForce(reversed, date)?.id, versionInForce(versions, date)?.id, date);
  }
});

t.test('findRate refuses malformed dates', async (t) => {
  for (const date of ['2025-4-1', '01/04/2025', '2025-02-30', '2027-02-29', '']) {
    t.throws(() => findRate(versions, { contributorKind: 'lived_experience', activity: 'meeting', date }), RangeError, date);
  }
  t.equal(findRate([], { contributorKind: 'lived_experience', activity: 'meeting', date: '2025-01-01' }), null, 'empty card');
});

t.test('validateRates reports what a schema cannot see', async (t) => {
  t.same(validateRates([meeting(2000), meeting(2500, { activity: 'workshop' })]), [], 'a good card');
  const cases: Array<{ name: string; rates: Rate[]; field: keyof Rate; index: number }> = [
    { name: 'duplicate kind and activity', rates: [meeting(2000), meeting(2100)], field: 'activity', index: 1 },
    { name: 'negative amount', rates: [meeting(-1)], field: 'amount', index: 0 },
    { name: 'fractional amount', rates: [meeting(20.5)], field: 'amount', index: 0 },
    { name: 'unsafe amount', rates: [meeting(2 ** 53)], field: 'amount', index: 0 },
    { name: 'zero rounding', rates: [meeting(2000, { roundToMinutes: 0 })], field: 'roundToMinutes', index: 0 },
    { name: 'fractional minimum', rates: [meeting(2000, { minimumMinutes: 7.5 })], field: 'minimumMinutes', index: 0 },
    { name: 'negative day threshold', rates: [meeting(2000, { unit: 'day', dayThresholdMinutes: -60 })], field: 'dayThresholdMinutes', index: 0 },
    { name: 'shortDayPay on an hourly rate', rates: [meeting(2000, { shortDayPay: 'half_day' })], field: 'shortDayPay', index: 0 },
    {
      name: 'shortDayPay on a session rate',
      rates: [meeting(2000, { unit: 'session', dayThresholdMinutes: 360, shortDayPay: 'pro_rata' })],
      field: 'shortDayPay',
      index: 0,
    },
    { name: 'shortDayPay with no day length', rates: [meeting(2000, { unit: 'day', shortDayPay: 'pro_rata' })], field: 'shortDayPay', index: 0 },
    {
      name: 'an unknown shortDayPay',
      rates: [meeting(2000, { unit: 'day', dayThresholdMinutes: 360, shortDayPay: 'quarter_day' as Rate['shortDayPay'] })],
      field: 'shortDayPay',
      index: 0,
    },
  ];
  for (const c of cases) {
    const problems = validateRates(c.rates);
    t.equal(problems.length, 1, `${c.name}: one problem`);
    t.match(problems[0], { index: c.index, field: c.field, message: String }, c.name);
  }
  t.same(
    validateRates([meeting(2000, { roundToMinutes: null, minimumMinutes: null, dayThresholdMinutes: null, shortDayPay: null })]),
    [],
    'nulls are "not set"',
  );
  t.same(
    validateRates([
      meeting(15000, { unit: 'day', dayThresholdMinutes: 360, shortDayPay: 'half_day' }),
      meeting(15000, { unit: 'day', activity: 'training', dayThresholdMinutes: 360, shortDayPay: 'pro_rata' }),
      meeting(15000, { unit: 'day', activity: 'workshop', dayThresholdMinutes: 360 }),
      meeting(15000, { unit: 'day', activity: 'reading' }),
    ]),
    [],
    'day rates: shortDayPay with a day length; a day length alone; neither (a day is a day, however long)',
  );
});

t.test('property: the version found is the latest started one, and no later one has started', async (t) => {
  const isoDate = fc
    .date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-12-31T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10));
  const version = fc.record({
    version: fc.integer({ min: 1, max: 50 }),
    effectiveFrom: isoDate,
    amount: fc.integer({ min: 0, max: 100_000 }),
    activity: fc.constantFrom(...activities),
    contributorKind: fc.constantFrom(...contributorKinds),
  });
  fc.assert(
    fc.property(fc.array(version, { maxLength: 8 }), isoDate, (raw, date) => {
      const card: RateCardVersion[] = raw.map((v, i) => ({
        id: `v${i}`,
        version: v.version,
        effectiveFrom: v.effectiveFrom,
        rates: [{ activity: v.activity, contributorKind: v.contributorKind, unit: 'hour', amount: v.amount }],
      }));
      const inForce = versionInForce(card, date);
      const started = card.filter((v) => v.effectiveFrom <= date);
      if (inForce === null) return started.length === 0;
      return (
        inForce.effectiveFrom <= date &&
        started.every(
          (v) =>
            v.effectiveFrom < inForce.effectiveFrom ||
            (v.effectiveFrom === inForce.effectiveFrom && v.version <= inForce.version),
        )
      );
    }),
  );
  t.pass('property held');
});
