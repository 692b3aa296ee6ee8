import t from 'tap';
import fc from 'fast-check';
import { activities, contributorKinds, paymentMethods, rateUnits, type PaymentMethod } from '../../src/domain/enums.js';
import { quoteTime, type TimeQuoteInput } from '../../src/domain/incentive.js';
import { shortDayPays, type Rate } from '../../src/domain/rate-card.js';

const hourly = (amount: number, extra: Partial<Rate> = {}): Rate => ({
  activity: 'meeting',
  contributorKind: 'lived_experience',
  unit: 'hour',
  amount,
  ...extra,
});

const input = (minutes: number, rate: Rate, extra: Partial<TimeQuoteInput> = {}): TimeQuoteInput => ({
  minutes,
  rate,
  rateCardVersion: 2,
  contributor: { kind: rate.contributorKind, paymentMethod: 'bank_transfer' },
  ...extra,
});

t.test('hourly rates: rounding, minimum, one rounding to the penny at the end', async (t) => {
  const cases: Array<{
    name: string;
    minutes: number;
    rate: Rate;
    value: number;
    billable: number;
    lines: string[];
    noLines?: RegExp[];
  }> = [
    {
      name: 'a plain hour',
      minutes: 60,
      rate: hourly(2000),
      value: 2000,
      billable: 60,
      lines: ['£20.00 per hour × 60 minutes = £20.00'],
      noLines: [/rounded up/, /Minimum/],
    },
    {
      name: '45 minutes in 30-minute steps',
      minutes: 45,
      rate: hourly(2000, { roundToMinutes: 30 }),
      value: 2000,
      billable: 60,
      lines: ['45 minutes rounded up to 60 (rounding to 30-minute steps)', '£20.00 per hour × 60 minutes = £20.00'],
    },
    {
      name: 'already a whole step: no rounding line',
      minutes: 90,
      rate: hourly(2000, { roundToMinutes: 30 }),
      value: 3000,
      billable: 90,
      lines: ['£20.00 per hour × 90 minutes = £30.00'],
      noLines: [/rounded up/],
    },
    {
      name: 'one minute over a step rounds up a whole step',
      minutes: 61,
      rate: hourly(2000, { roundToMinutes: 15 }),
      value: 2500,
      billable: 75,
      lines: ['61 minutes rounded up to 75 (rounding to 15-minute steps)'],
    },
    {
      name: 'minimum applied',
      minutes: 20,
      rate: hourly(2000, { minimumMinutes: 60 }),
      value: 2000,
      billable: 60,
      lines: ['Minimum of 60 minutes applied', '£20.00 per hour × 60 minutes = £20.00'],
    },
    {
      name: 'rounding first, then the minimum',
      minutes: 40,
      rate: hourly(2000, { roundToMinutes: 15, minimumMinutes: 60 }),
      value: 2000,
      billable: 60,
      lines: ['40 minutes rounded up to 45 (rounding to 15-minute steps)', 'Minimum of 60 minutes applied'],
    },
    {
      name: 'rounded minutes above the minimum: minimum not applied',
      minutes: 70,
      rate: hourly(2000, { roundToMinutes: 15, minimumMinutes: 60 }),
      value: 2500,
      billable: 75,
      lines: ['70 minutes rounded up to 75 (rounding to 15-minute steps)'],
      noLines: [/Minimum/],
    },
    {
      name: 'null settings mean not set',
      minutes: 7,
      rate: hourly(1500, { roundToMinutes: null, minimumMinutes: null }),
      value: 175,
      billable: 7,
      lines: ['£15.00 per hour × 7 minutes = £1.75'],
    },
    {
      name: 'rounding to the penny: 116.78p → 117p',
      minutes: 7,
      rate: hourly(1001),
      value: 117,
      billable: 7,
      lines: ['£10.01 per hour × 7 minutes = £1.17 (rounded half up to the penny)'],
    },
    {
      name: 'rounding down: 33.33p → 33p',
      minutes: 1,
      rate: hourly(2000),
      value: 33,
      billable: 1,
      lines: ['£20.00 per hour × 1 minutes = £0.33 (rounded half up to the penny)'],
    },
    { name: 'exact half rounds up: 0.5p → 1p', minutes: 1, rate: hourly(30), value: 1, billable: 1, lines: [] },
    { name: 'exact half rounds up, not to even: 2.5p → 3p', minutes: 1, rate: hourly(150), value: 3, billable: 1, lines: [] },
    {
      name: 'rounded once after the whole calculation: 1501.5p → 1502p (not 1001 + 500.5 rounded twice)',
      minutes: 90,
      rate: hourly(1001),
      value: 1502,
      billable: 90,
      lines: [],
    },
    { name: 'a zero rate is worth nothing', minutes: 60, rate: hourly(0), value: 0, billable: 60, lines: [] },
  ];
  for (const c of cases) {
    const quote = quoteTime(input(c.minutes, c.rate));
    t.equal(quote.value, c.value, `${c.name}: value`);
    t.equal(quote.amount, c.value, `${c.name}: amount`);
    t.equal(quote.billableMinutes, c.billable, `${c.name}: billable minutes`);
    t.same(quote.warnings, [], `${c.name}: no warnings`);
    for (const line of c.lines) t.ok(quote.explanation.includes(line), `${c.name}: explains "${line}"`, { explanation: quote.explanation });
    for (const pattern of c.noLines ?? []) {
      t.notOk(quote.explanation.some((line) => pattern.test(line)), `${c.name}: nothing matching ${pattern}`);
    }
  }
});

t.test('the first line names the rate-card version and rate', async (t) => {
  const quote = quoteTime(input(60, hourly(2000)));
  t.equal(quote.explanation[0], 'Rate card version 2: meeting rate for lived experience contributors, £20.00 per hour');
  t.equal(quote.rateCardVersion, 2);
  t.equal(quote.currency, 'GBP');
  t.equal(quote.unit, 'hour');
});

t.test('session and day rates', async (t) => {
  const cases: Array<{ name: string; minutes: number; rate: Rate; value: number; line: RegExp }> = [
    {
      name: 'a session, whatever its length',
      minutes: 200,
      rate: hourly(5000, { unit: 'session', activity: 'workshop' }),
      value: 5000,
      line: /^Session rate: £50\.00 for the session, whatever its length \(200 minutes\)$/,
    },
    {
      name: 'a short session pays the same',
      minutes: 15,
      rate: hourly(5000, { unit: 'session', roundToMinutes: 30, minimumMinutes: 60 }),
      value: 5000,
      line: /^Session rate: £50\.00/,
    },
    {
      name: 'a day under the threshold',
      minutes: 300,
      rate: hourly(12000, { unit: 'day', dayThresholdMinutes: 480 }),
      value: 12000,
      line: /^Day rate: £120\.00 for the day \(300 minutes\)$/,
    },
    {
      name: 'exactly the threshold is one day, not capped',
      minutes: 480,
      rate: hourly(12000, { unit: 'day', dayThresholdMinutes: 480 }),
      value: 12000,
      line: /^Day rate: £120\.00 for the day \(480 minutes\)$/,
    },
    {
      name: 'a long day is capped at one day',
      minutes: 600,
      rate: hourly(12000, { unit: 'day', dayThresholdMinutes: 480 }),
      value: 12000,
      line: /^Day rate: 600 minutes is more than a 480-minute day, capped at one day = £120\.00$/,
    },
    {
      name: 'no threshold: one day',
      minutes: 900,
      rate: hourly(12000, { unit: 'day' }),
      value: 12000,
      line: /^Day rate: £120\.00 for the day \(900 minutes\)$/,
    },
  ];
  for (const c of cases) {
    const quote = quoteTime(input(c.minutes, c.rate));
    t.equal(quote.value, c.value, `${c.name}: value`);
    t.equal(quote.amount, c.value, `${c.name}: amount`);
    t.equal(quote.billableMinutes, null, `${c.name}: no billable minutes`);
    t.ok(quote.explanation.some((line) => c.line.test(line)), `${c.name}: explained`, { explanation: quote.explanation });
    t.notOk(quote.explanation.some((line) => /rounded up|Minimum/.test(line)), `${c.name}: hourly rules not applied`);
  }
});

t.test('a day rate honours its threshold: half a day or pro rata below it', async (t) => {
  /** £150 a day, a 360-minute day. */
  const day = (shortDayPay: Rate['shortDayPay'], extra: Partial<Rate> = {}): Rate =>
    hourly(15000, { unit: 'day', activity: 'training', dayThresholdMinutes: 360, shortDayPay, ...extra });
  const cases: Array<{ name: string; minutes: number; rate: Rate; value: number; line: string }> = [
    {
      name: 'half_day: 30 minutes is half a day',
      minutes: 30,
      rate: day('half_day'),
      value: 7500,
      line: 'Day rate: 30 minutes is no more than half a 360-minute day, paid as half a day: half of £150.00 = £75.00',
    },
    {
      name: 'half_day: exactly half the threshold is still half a day',
      minutes: 180,
      rate: day('half_day'),
      value: 7500,
      line: 'Day rate: 180 minutes is no more than half a 360-minute day, paid as half a day: half of £150.00 = £75.00',
    },
    {
      name: 'half_day: one minute over half is a full day',
      minutes: 181,
      rate: day('half_day'),
      value: 15000,
      line: 'Day rate: 181 minutes is more than half a 360-minute day, paid as a full day = £150.00',
    },
    {
      name: 'half_day: an odd threshold is halved exactly (90 of 181 is half, 91 is not)',
      minutes: 91,
      rate: day('half_day', { dayThresholdMinutes: 181 }),
      value: 15000,
      line: 'Day rate: 91 minutes is more than half a 181-minute day, paid as a full day = £150.00',
    },
    {
      name: 'half_day: 90 of a 181-minute day is half a day',
      minutes: 90,
      rate: day('half_day', { dayThresholdMinutes: 181 }),
      value: 7500,
      line: 'Day rate: 90 minutes is no more than half a 181-minute day, paid as half a day: half of £150.00 = £75.00',
    },
    {
      name: 'half_day: half of an odd number of pence rounds half up (£150.01 → £75.01)',
      minutes: 60,
      rate: day('half_day', { amount: 15001 }),
      value: 7501,
      line:
        'Day rate: 60 minutes is no more than half a 360-minute day, paid as half a day: ' +
        'half of £150.01 = £75.01 (rounded half up to the penny)',
    },
    {
      name: 'half_day: at the threshold, a full day',
      minutes: 360,
      rate: day('half_day'),
      value: 15000,
      line: 'Day rate: £150.00 for the day (360 minutes)',
    },
    {
      name: 'half_day: over the threshold, capped at one day',
      minutes: 500,
      rate: day('half_day'),
      value: 15000,
      line: 'Day rate: 500 minutes is more than a 360-minute day, capped at one day = £150.00',
    },
    {
      name: 'pro_rata: 30 of 360 minutes is £12.50',
      minutes: 30,
      rate: day('pro_rata'),
      value: 1250,
      line: 'Day rate: 30 minutes of a 360-minute day, paid pro rata: £150.00 × 30 / 360 = £12.50',
    },
    {
      name: 'pro_rata: 359 of 360 minutes rounds to the nearest penny (14958.33p → £149.58)',
      minutes: 359,
      rate: day('pro_rata'),
      value: 14958,
      line: 'Day rate: 359 minutes of a 360-minute day, paid pro rata: £150.00 × 359 / 360 = £149.58 (rounded half up to the penny)',
    },
    {
      name: 'pro_rata: an exact half penny rounds up (1p × 1 / 2 = 0.5p → 1p)',
      minutes: 1,
      rate: day('pro_rata', { amount: 1, dayThresholdMinutes: 2 }),
      value: 1,
      line: 'Day rate: 1 minutes of a 2-minute day, paid pro rata: £0.01 × 1 / 2 = £0.01 (rounded half up to the penny)',
    },
    {
      name: 'pro_rata: an exact half rounds up, not to even (5p × 1 / 2 = 2.5p → 3p)',
      minutes: 1,
      rate: day('pro_rata', { amount: 5, dayThresholdMinutes: 2 }),
      value: 3,
      line: 'Day rate: 1 minutes of a 2-minute day, paid pro rata: £0.05 × 1 / 2 = £0.03 (rounded half up to the penny)',
    },
    {
      name: 'pro_rata: just under a half rounds down (3p × 1 / 7 = 0.43p → 0p)',
      minutes: 1,
      rate: day('pro_rata', { amount: 3, dayThresholdMinutes: 7 }),
      value: 0,
      line: 'Day rate: 1 minutes of a 7-minute day, paid pro rata: £0.03 × 1 / 7 = £0.00 (rounded half up to the penny)',
    },
    {
      name: 'pro_rata: at the threshold, a full day',
      minutes: 360,
      rate: day('pro_rata'),
      value: 15000,
      line: 'Day rate: £150.00 for the day (360 minutes)',
    },
    {
      name: 'pro_rata: over the threshold, capped at one day',
      minutes: 361,
      rate: day('pro_rata'),
      value: 15000,
      line: 'Day rate: 361 minutes is more than a 360-minute day, capped at one day = £150.00',
    },
    {
      name: 'not set: a short day is paid in full, as versions stored before shortDayPay mean',
      minutes: 30,
      rate: day(undefined),
      value: 15000,
      line: 'Day rate: £150.00 for the day (30 minutes)',
    },
    {
      name: 'null means not set',
      minutes: 30,
      rate: day(null),
      value: 15000,
      line: 'Day rate: £150.00 for the day (30 minutes)',
    },
    {
      name: 'no threshold and no shortDayPay: the full rate for any minutes',
      minutes: 30,
      rate: day(undefined, { dayThresholdMinutes: null }),
      value: 15000,
      line: 'Day rate: £150.00 for the day (30 minutes)',
    },
  ];
  for (const c of cases) {
    const quote = quoteTime(input(c.minutes, c.rate));
    t.equal(quote.value, c.value, `${c.name}: value`);
    t.equal(quote.amount, c.value, `${c.name}: amount`);
    t.equal(quote.billableMinutes, null, `${c.name}: no billable minutes`);
    t.same(quote.warnings, [], `${c.name}: no warnings`);
    t.same(quote.explanation.slice(1), [c.line], `${c.name}: explained in one line after the rate`);
  }

  const declined = quoteTime({ ...input(30, day('pro_rata')), contributor: { kind: 'lived_experience', paymentMethod: 'declined' } });
  t.equal(declined.value, 1250, 'declined: the short day is valued pro rata');
  t.equal(declined.amount, 0, 'declined: nothing owed');
  const inKind = quoteTime(input(30, day('half_day', { inKind: true })));
  t.match(inKind, { value: 7500, amount: 0 }, 'in kind: valued as half a day, not paid');

  t.throws(() => quoteTime(input(30, day('pro_rata', { dayThresholdMinutes: null }))), RangeError, 'shortDayPay without a threshold');
  t.throws(
    () => quoteTime(input(30, day('quarter_day' as Rate['shortDayPay']))),
    RangeError,
    'an unknown shortDayPay is refused, not paid as a full day',
  );
});

t.test('in-kind rates and declined payment keep the value and owe nothing', async (t) => {
  const inKind = hourly(3000, { contributorKind: 'professional', inKind: true });
  const cases: Array<{ name: string; rate: Rate; method: PaymentMethod; lines: string[]; noLine?: RegExp }> = [
    {
      name: 'in-kind professional time',
      rate: inKind,
      method: 'bank_transfer',
      lines: ['In-kind rate: time valued at £30.00 but not paid'],
    },
    {
      name: 'declined payment',
      rate: hourly(3000),
      method: 'declined',
      lines: ['Contributor declined payment: value £30.00 recorded, nothing owed'],
    },
    {
      name: 'in-kind takes precedence over declined',
      rate: inKind,
      method: 'declined',
      lines: ['In-kind rate: time valued at £30.00 but not paid'],
      noLine: /declined/,
    },
  ];
  for (const c of cases) {
    const quote = quoteTime({
      ...input(60, c.rate),
      contributor: { kind: c.rate.contributorKind, paymentMethod: c.method },
    });
    t.equal(quote.value, 3000, `${c.name}: value kept`);
    t.equal(quote.amount, 0, `${c.name}: nothing owed`);
    for (const line of c.lines) t.ok(quote.explanation.includes(line), `${c.name}: "${line}"`, { explanation: quote.explanation });
    if (c.noLine) t.notOk(quote.explanation.some((l) => c.noLine?.test(l)), `${c.name}: no ${c.noLine}`);
  }
  const paid = quoteTime(input(60, hourly(3000, { inKind: false })));
  t.equal(paid.amount, 3000, 'inKind: false is paid');
});

t.test('amounts are written in the rate card currency', async (t) => {
  const quote = quoteTime(input(60, hourly(2000), { currency: 'EUR' }));
  t.equal(quote.currency, 'EUR');
  t.ok(quote.explanation.includes('€20.00 per hour × 60 minutes = €20.00'), 'euros', { explanation: quote.explanation });
});

t.test('quoteTime refuses input validation should have stopped', async (t) => {
  const cases: Array<[string, TimeQuoteInput]> = [
    ['zero minutes', input(0, hourly(2000))],
    ['negative minutes', input(-30, hourly(2000))],
    ['fractional minutes', input(1.5, hourly(2000))],
    ['NaN minutes', input(Number.NaN, hourly(2000))],
    ['negative rate', input(60, hourly(-1))],
    ['fractional rate', input(60, hourly(20.5))],
    ['unsafe rate', input(60, hourly(2 ** 53))],
    ['zero rounding step', input(60, hourly(2000, { roundToMinutes: 0 }))],
    ['negative minimum', input(60, hourly(2000, { minimumMinutes: -60 }))],
    ['zero day threshold', input(60, hourly(2000, { unit: 'day', dayThresholdMinutes: 0 }))],
    [
      'a rate for another kind of contributor',
      { ...input(60, hourly(2000)), contributor: { kind: 'professional', paymentMethod: 'stripe' } },
    ],
  ];
  for (const [name, bad] of cases) t.throws(() => quoteTime(bad), RangeError, name);
  t.throws(
    () => quoteTime(input(Number.MAX_SAFE_INTEGER, hourly(Number.MAX_SAFE_INTEGER))),
    RangeError,
    'a value past safe integers is refused, not rounded',
  );
});

const rateArbitrary: fc.Arbitrary<Rate> = fc.record({
  activity: fc.constantFrom(...activities),
  contributorKind: fc.constantFrom(...contributorKinds),
  unit: fc.constantFrom(...rateUnits),
  amount: fc.integer({ min: 0, max: 1_000_000 }),
  roundToMinutes: fc.option(fc.integer({ min: 1, max: 120 })),
  minimumMinutes: fc.option(fc.integer({ min: 1, max: 480 })),
  inKind: fc.boolean(),
  dayThresholdMinutes: fc.option(fc.integer({ min: 1, max: 720 })),
  shortDayPay: fc.option(fc.constantFrom(...shortDayPays)),
})
  // As validateRates requires: shortDayPay only on a day rate with a threshold.
  .map((rate) => (rate.unit === 'day' && rate.dayThresholdMinutes !== null ? rate : { ...rate, shortDayPay: null }));

const quoteInputArbitrary: fc.Arbitrary<TimeQuoteInput> = fc
  .record({
    minutes: fc.integer({ min: 1, max: 24 * 60 * 3 }),
    rate: rateArbitrary,
    paymentMethod: fc.constantFrom(...paymentMethods),
    rateCardVersion: fc.integer({ min: 1, max: 20 }),
  })
  .map(({ paymentMethod, ...rest }) => ({
    ...rest,
    contributor: { kind: rest.rate.contributorKind, paymentMethod },
  }));

/** Minutes after the hourly rounding and minimum, computed independently of the engine. */
function minutesAfterRounding(minutes: number, rate: Rate): bigint {
  let billable = BigInt(minutes);
  if (rate.roundToMinutes) {
    const step = BigInt(rate.roundToMinutes);
    billable = ((billable + step - 1n) / step) * step;
  }
  if (rate.minimumMinutes && billable < BigInt(rate.minimumMinutes)) billable = BigInt(rate.minimumMinutes);
  return billable;
}

t.test('property: amounts are never negative and never exceed the value', async (t) => {
  fc.assert(
    fc.property(quoteInputArbitrary, (quoteInput) => {
      const q = quoteTime(quoteInput);
      return (
        q.value >= 0 &&
        q.amount >= 0 &&
        q.amount <= q.value &&
        [q.value, q.amount].every(Number.isSafeInteger) &&
        q.explanation.length >= 2 &&
        q.explanation.every((line) => line.length > 0)
      );
    }),
  );
  t.pass('property held');
});

t.test('property: hourly value never exceeds ceil(rate × minutes after rounding / 60)', async (t) => {
  fc.assert(
    fc.property(quoteInputArbitrary, (quoteInput) => {
      const { rate } = quoteInput;
      const q = quoteTime(quoteInput);
      if (rate.unit === 'session') return q.value === rate.amount && q.billableMinutes === null;
      if (rate.unit === 'day') return q.value <= rate.amount && q.billableMinutes === null;
      const billable = minutesAfterRounding(quoteInput.minutes, rate);
      const product = BigInt(rate.amount) * billable;
      const ceiling = (product + 59n) / 60n;
      const floor = product / 60n;
      return (
        q.billableMinutes !== null &&
        BigInt(q.billableMinutes) === billable &&
        BigInt(q.value) <= ceiling &&
        BigInt(q.value) >= floor
      );
    }),
  );
  t.pass('property held');
});

t.test('property: more minutes are never worth less', async (t) => {
  fc.assert(
    fc.property(quoteInputArbitrary, fc.integer({ min: 1, max: 600 }), (quoteInput, extra) => {
      const shorter = quoteTime(quoteInput);
      const longer = quoteTime({ ...quoteInput, minutes: quoteInput.minutes + extra });
      return longer.value >= shorter.value;
    }),
  );
  t.pass('property held');
});

/** Day rates only, with a threshold the minutes are drawn around. */
const dayInputArbitrary: fc.Arbitrary<TimeQuoteInput> = fc
  .record({
    amount: fc.integer({ min: 0, max: 1_000_000 }),
    threshold: fc.integer({ min: 1, max: 720 }),
    shortDayPay: fc.option(fc.constantFrom(...shortDayPays)),
    minutes: fc.integer({ min: 1, max: 1440 }),
  })
  .map(({ amount, threshold, shortDayPay, minutes }) =>
    input(minutes, hourly(amount, { unit: 'day', dayThresholdMinutes: threshold, shortDayPay })),
  );

t.test('property: a day never pays more than the day rate, and pays all of it from the threshold on', async (t) => {
  fc.assert(
    fc.property(dayInputArbitrary, (quoteInput) => {
      const q = quoteTime(quoteInput);
      const { amount, dayThresholdMinutes } = quoteInput.rate;
      return q.value >= 0 && q.value <= amount && (quoteInput.minutes < dayThresholdMinutes! || q.value === amount);
    }),
  );
  t.pass('property held');
});

t.test('property: pro rata never decreases with more minutes, and is within half a penny of rate × minutes / threshold', async (t) => {
  fc.assert(
    fc.property(dayInputArbitrary, fc.integer({ min: 1, max: 720 }), (quoteInput, extra) => {
      const rate: Rate = { ...quoteInput.rate, shortDayPay: 'pro_rata' };
      const shorter = quoteTime({ ...quoteInput, rate });
      const longer = quoteTime({ ...quoteInput, rate, minutes: quoteInput.minutes + extra });
      const threshold = BigInt(rate.dayThresholdMinutes!);
      const paidMinutes = BigInt(Math.min(quoteInput.minutes, rate.dayThresholdMinutes!));
      const exact2 = (2n * BigInt(rate.amount) * paidMinutes) / threshold; // twice the exact amount, floored
      const value = BigInt(shorter.value);
      return longer.value >= shorter.value && 2n * value >= exact2 - 1n && 2n * value <= exact2 + 2n;
    }),
  );
  t.pass('property held');
});
