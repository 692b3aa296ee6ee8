import t from 'tap';
import fc from 'fast-check';
import {
  activities,
  contributorKinds,
  earningsLimitPolicies,
  paymentMethods,
  rateUnits,
  type EarningsLimitPolicy,
  type PaymentMethod,
} from '../../src/domain/enums.js';
import { quoteTime, type EarningsLimit, type TimeQuoteInput } from '../../src/domain/incentive.js';
import type { Rate } from '../../src/domain/rate-card.js';

/** ESA permitted work: £195.50 a week from April 2025. */
const ESA_WEEKLY = 19550;

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

const esa = (policy: EarningsLimitPolicy, amount = ESA_WEEKLY): EarningsLimit => ({
  period: 'week',
  periodStartDay: 1,
  amount,
  policy,
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
    t.equal(quote.payable, c.value, `${c.name}: payable`);
    t.equal(quote.withheld, 0, `${c.name}: withheld`);
    t.equal(quote.billableMinutes, c.billable, `${c.name}: billable minutes`);
    t.equal(quote.limitOutcome, 'none', `${c.name}: no limit`);
    t.equal(quote.headroom, null, `${c.name}: no headroom without a limit`);
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
    t.equal(quote.payable, 0, `${c.name}: nothing payable`);
    for (const line of c.lines) t.ok(quote.explanation.includes(line), `${c.name}: "${line}"`, { explanation: quote.explanation });
    if (c.noLine) t.notOk(quote.explanation.some((l) => c.noLine?.test(l)), `${c.name}: no ${c.noLine}`);
  }
  const paid = quoteTime(input(60, hourly(3000, { inKind: false })));
  t.equal(paid.amount, 3000, 'inKind: false is paid');
});

t.test('earnings limit: the ESA £195.50 weekly limit', async (t) => {
  const cases: Array<{
    name: string;
    limit: EarningsLimit;
    earned: number;
    minutes: number;
    amount: number;
    payable: number;
    withheld: number;
    outcome: string;
    headroom: number;
    line: string;
    warning?: RegExp;
  }> = [
    {
      name: 'well within',
      limit: esa('block'),
      earned: 0,
      minutes: 60,
      amount: 2000,
      payable: 2000,
      withheld: 0,
      outcome: 'within',
      headroom: 19550,
      line: 'Weekly earnings limit £195.50: £195.50 headroom left, £20.00 fits within it',
    },
    {
      name: 'within but near the limit',
      limit: esa('block'),
      earned: 16000,
      minutes: 60,
      amount: 2000,
      payable: 2000,
      withheld: 0,
      outcome: 'within',
      headroom: 3550,
      line: 'Weekly earnings limit £195.50: £35.50 headroom left, £20.00 fits within it',
      warning: /near the earnings limit: £15\.50 of the weekly £195\.50 left/,
    },
    {
      name: 'exactly 10% left is not "near"',
      limit: esa('block'),
      earned: 15595,
      minutes: 60,
      amount: 2000,
      payable: 2000,
      withheld: 0,
      outcome: 'within',
      headroom: 3955,
      line: 'Weekly earnings limit £195.50: £39.55 headroom left, £20.00 fits within it',
    },
    {
      name: 'exactly reaching the limit is within',
      limit: esa('block'),
      earned: 17550,
      minutes: 60,
      amount: 2000,
      payable: 2000,
      withheld: 0,
      outcome: 'within',
      headroom: 2000,
      line: 'Weekly earnings limit £195.50: £20.00 headroom left, £20.00 fits within it',
      warning: /near the earnings limit/,
    },
    {
      name: 'block',
      limit: esa('block'),
      earned: 15550,
      minutes: 150,
      amount: 5000,
      payable: 0,
      withheld: 0,
      outcome: 'blocked',
      headroom: 4000,
      line: 'Weekly earnings limit £195.50: £40.00 headroom left, £50.00 would go over it, so approval is blocked',
      warning: /approval will be refused/,
    },
    {
      name: 'split',
      limit: esa('split'),
      earned: 15550,
      minutes: 150,
      amount: 5000,
      payable: 4000,
      withheld: 1000,
      outcome: 'split',
      headroom: 4000,
      line: 'Weekly earnings limit £195.50: £40.00 headroom left, £10.00 withheld',
      warning: /£40\.00 will be owed and £10\.00 withheld/,
    },
    {
      name: 'warn',
      limit: esa('warn'),
      earned: 15550,
      minutes: 150,
      amount: 5000,
      payable: 5000,
      withheld: 0,
      outcome: 'warned',
      headroom: 4000,
      line: 'Weekly earnings limit £195.50: £40.00 headroom left, £50.00 goes over it by £10.00; approved in full (policy: warn)',
      warning: /Over the weekly earnings limit of £195\.50 by £10\.00/,
    },
    {
      name: 'split with the limit already used up',
      limit: esa('split'),
      earned: 19550,
      minutes: 60,
      amount: 2000,
      payable: 0,
      withheld: 2000,
      outcome: 'split',
      headroom: 0,
      line: 'Weekly earnings limit £195.50: £0.00 headroom left, £20.00 withheld',
      warning: /£0\.00 will be owed and £20\.00 withheld/,
    },
    {
      name: 'warn when already over (an earlier warned approval): headroom is never negative',
      limit: esa('warn'),
      earned: 20000,
      minutes: 60,
      amount: 2000,
      payable: 2000,
      withheld: 0,
      outcome: 'warned',
      headroom: 0,
      line: 'Weekly earnings limit £195.50: £0.00 headroom left, £20.00 goes over it by £24.50; approved in full (policy: warn)',
      warning: /by £24\.50 if approved/,
    },
    {
      name: 'ESA lower limit £20 a week, met exactly',
      limit: esa('block', 2000),
      earned: 0,
      minutes: 60,
      amount: 2000,
      payable: 2000,
      withheld: 0,
      outcome: 'within',
      headroom: 2000,
      line: 'Weekly earnings limit £20.00: £20.00 headroom left, £20.00 fits within it',
      warning: /near the earnings limit/,
    },
    {
      name: 'a monthly limit (Universal Credit assessment period)',
      limit: { period: 'month', periodStartDay: 15, amount: 50000, policy: 'split' },
      earned: 49000,
      minutes: 60,
      amount: 2000,
      payable: 1000,
      withheld: 1000,
      outcome: 'split',
      headroom: 1000,
      line: 'Monthly earnings limit £500.00: £10.00 headroom left, £10.00 withheld',
      warning: /monthly earnings limit/,
    },
  ];
  for (const c of cases) {
    const quote = quoteTime(input(c.minutes, hourly(2000), { earningsLimit: c.limit, earnedInPeriod: c.earned }));
    t.equal(quote.amount, c.amount, `${c.name}: amount`);
    t.equal(quote.payable, c.payable, `${c.name}: payable`);
    t.equal(quote.withheld, c.withheld, `${c.name}: withheld`);
    t.equal(quote.limitOutcome, c.outcome, `${c.name}: outcome`);
    t.equal(quote.headroom, c.headroom, `${c.name}: headroom`);
    t.ok(quote.explanation.includes(c.line), `${c.name}: explained`, { explanation: quote.explanation });
    if (c.warning) {
      t.ok(quote.warnings.some((w) => c.warning?.test(w)), `${c.name}: warned`, { warnings: quote.warnings });
    } else {
      t.same(quote.warnings, [], `${c.name}: no warnings`);
    }
  }
});

t.test('earnings limit with nothing owed', async (t) => {
  const quote = quoteTime({
    ...input(60, hourly(2000), { earningsLimit: esa('block'), earnedInPeriod: 19550 }),
    contributor: { kind: 'lived_experience', paymentMethod: 'declined' },
  });
  t.equal(quote.amount, 0);
  t.equal(quote.payable, 0);
  t.equal(quote.limitOutcome, 'within', 'declined time never goes over a limit, so it is never blocked');
  t.equal(quote.headroom, 0);
  const defaultEarned = quoteTime(input(60, hourly(2000), { earningsLimit: esa('block') }));
  t.equal(defaultEarned.headroom, ESA_WEEKLY, 'earnedInPeriod defaults to 0');
  t.equal(quoteTime(input(60, hourly(2000), { earningsLimit: null })).limitOutcome, 'none', 'null limit');
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
    ['negative earnings so far', input(60, hourly(2000), { earningsLimit: esa('block'), earnedInPeriod: -1 })],
    ['fractional limit', input(60, hourly(2000), { earningsLimit: esa('block', 195.5) })],
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
});

const limitArbitrary: fc.Arbitrary<EarningsLimit | null> = fc.option(
  fc.oneof(
    fc.record({
      period: fc.constant('week' as const),
      periodStartDay: fc.integer({ min: 1, max: 7 }),
      amount: fc.integer({ min: 0, max: 100_000 }),
      policy: fc.constantFrom(...earningsLimitPolicies),
    }),
    fc.record({
      period: fc.constant('month' as const),
      periodStartDay: fc.integer({ min: 1, max: 28 }),
      amount: fc.integer({ min: 0, max: 500_000 }),
      policy: fc.constantFrom(...earningsLimitPolicies),
    }),
  ),
);

const quoteInputArbitrary: fc.Arbitrary<TimeQuoteInput> = fc
  .record({
    minutes: fc.integer({ min: 1, max: 24 * 60 * 3 }),
    rate: rateArbitrary,
    paymentMethod: fc.constantFrom(...paymentMethods),
    earningsLimit: limitArbitrary,
    earnedInPeriod: fc.integer({ min: 0, max: 600_000 }),
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
        q.payable >= 0 &&
        q.payable <= q.amount &&
        q.withheld >= 0 &&
        (q.headroom === null || q.headroom >= 0) &&
        [q.value, q.amount, q.payable, q.withheld].every(Number.isSafeInteger) &&
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
      if (rate.unit !== 'hour') return q.value === rate.amount && q.billableMinutes === null;
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

t.test('property: the limit outcome follows the policy', async (t) => {
  fc.assert(
    fc.property(quoteInputArbitrary, (quoteInput) => {
      const q = quoteTime(quoteInput);
      const limit = quoteInput.earningsLimit ?? null;
      if (limit === null) {
        return q.limitOutcome === 'none' && q.headroom === null && q.payable === q.amount && q.withheld === 0;
      }
      const headroom = Math.max(0, limit.amount - (quoteInput.earnedInPeriod ?? 0));
      if (q.headroom !== headroom) return false;
      switch (q.limitOutcome) {
        case 'within':
          return q.amount <= headroom && q.payable === q.amount && q.withheld === 0;
        case 'blocked':
          return limit.policy === 'block' && q.amount > headroom && q.payable === 0 && q.withheld === 0;
        case 'split':
          return (
            limit.policy === 'split' &&
            q.amount > headroom &&
            q.payable === headroom &&
            q.payable + q.withheld === q.amount
          );
        case 'warned':
          return limit.policy === 'warn' && q.amount > headroom && q.payable === q.amount && q.withheld === 0;
        default:
          return false;
      }
    }),
  );
  t.pass('property held');
});
