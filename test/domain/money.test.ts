import t from 'tap';
import fc from 'fast-check';
import {
  assertNonNegativeSafeInteger,
  currencyDigits,
  formatMoney,
  isNonNegativeSafeInteger,
  roundHalfUpDiv,
  sumMinorUnits,
  toSafeNumber,
} from '../../src/domain/money.js';

t.test('roundHalfUpDiv rounds to the nearest integer, halves up', async (t) => {
  const cases: Array<[bigint, bigint, bigint, string]> = [
    [0n, 60n, 0n, 'zero'],
    [29n, 60n, 0n, 'just under a half rounds down'],
    [30n, 60n, 1n, 'exactly a half rounds up'],
    [31n, 60n, 1n, 'just over a half rounds up'],
    [60n, 60n, 1n, 'exact'],
    [90n, 60n, 2n, '1.5 rounds up to 2'],
    [150n, 60n, 3n, '2.5 rounds up to 3 (not to even)'],
    [149n, 60n, 2n, '2.48 rounds down'],
    [1n, 3n, 0n, 'a third rounds down'],
    [2n, 3n, 1n, 'two thirds round up'],
    [7007n, 60n, 117n, '£10.01 × 7 minutes = 116.78p → 117p'],
    [5n, 1n, 5n, 'denominator 1'],
    [10n ** 30n + 5n, 10n, 10n ** 29n + 1n, 'beyond 2^53 stays exact'],
  ];
  for (const [numerator, denominator, expected, name] of cases) {
    t.equal(roundHalfUpDiv(numerator, denominator), expected, `${name}: ${numerator}/${denominator}`);
  }
});

t.test('roundHalfUpDiv refuses what it does not define', async (t) => {
  t.throws(() => roundHalfUpDiv(-1n, 60n), RangeError, 'negative numerator');
  t.throws(() => roundHalfUpDiv(1n, 0n), RangeError, 'zero denominator');
  t.throws(() => roundHalfUpDiv(1n, -2n), RangeError, 'negative denominator');
});

t.test('roundHalfUpDiv agrees with floor((2n + d) / 2d) and stays within half of the true quotient', async (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 24n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (n, d) => {
      const result = roundHalfUpDiv(n, d);
      // 2 × (n/d − result) × d: a remainder of exactly a half is rounded up, never down, so the
      // result is at most half above the true quotient and strictly less than half below it.
      const distanceTimesTwo = (n - result * d) * 2n;
      return result === (2n * n + d) / (2n * d) && distanceTimesTwo < d && distanceTimesTwo >= -d;
    }),
  );
  t.pass('property held');
});

t.test('toSafeNumber converts safe bigints and refuses others', async (t) => {
  t.equal(toSafeNumber(0n), 0);
  t.equal(toSafeNumber(19550n), 19550);
  t.equal(toSafeNumber(-19550n), -19550);
  t.equal(toSafeNumber(BigInt(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  t.equal(toSafeNumber(BigInt(Number.MIN_SAFE_INTEGER)), Number.MIN_SAFE_INTEGER);
  t.throws(() => toSafeNumber(BigInt(Number.MAX_SAFE_INTEGER) + 1n), RangeError);
  t.throws(() => toSafeNumber(BigInt(Number.MIN_SAFE_INTEGER) - 1n), RangeError);
});

t.test('non-negative safe integer checks', async (t) => {
  const cases: Array<[number, boolean]> = [
    [0, true],
    [19550, true],
    [Number.MAX_SAFE_INTEGER, true],
    [-1, false],
    [1.5, false],
    [Number.NaN, false],
    [Number.POSITIVE_INFINITY, false],
    [Number.MAX_SAFE_INTEGER + 1, false],
  ];
  for (const [value, ok] of cases) {
    t.equal(isNonNegativeSafeInteger(value), ok, String(value));
    if (ok) t.doesNotThrow(() => assertNonNegativeSafeInteger(value, 'amount'));
    else t.throws(() => assertNonNegativeSafeInteger(value, 'amount'), { name: 'RangeError', message: /amount/ });
  }
});

t.test('sumMinorUnits adds exactly and refuses unsafe totals', async (t) => {
  t.equal(sumMinorUnits([]), 0);
  t.equal(sumMinorUnits([19550, -550, 1]), 19001);
  t.equal(sumMinorUnits([Number.MAX_SAFE_INTEGER, -1, 1]), Number.MAX_SAFE_INTEGER);
  t.throws(() => sumMinorUnits([Number.MAX_SAFE_INTEGER, 1]), RangeError);
  t.throws(() => sumMinorUnits([1.5]), RangeError);
});

t.test('currencyDigits follows ISO 4217', async (t) => {
  t.equal(currencyDigits('GBP'), 2);
  t.equal(currencyDigits('EUR'), 2);
  t.equal(currencyDigits('JPY'), 0);
  t.equal(currencyDigits('BHD'), 3);
});

t.test('formatMoney writes minor units for people', async (t) => {
  const cases: Array<[number, string, string]> = [
    [19550, 'GBP', '£195.50'],
    [2000, 'GBP', '£20.00'],
    [0, 'GBP', '£0.00'],
    [5, 'GBP', '£0.05'],
    [99, 'GBP', '£0.99'],
    [100, 'GBP', '£1.00'],
    [-50, 'GBP', '-£0.50'],
    [-19550, 'GBP', '-£195.50'],
    [123456789, 'GBP', '£1,234,567.89'],
    [Number.MAX_SAFE_INTEGER, 'GBP', '£90,071,992,547,409.91'],
    [1000, 'EUR', '€10.00'],
    [199, 'USD', 'US$1.99'],
    [1234, 'JPY', 'JP¥1,234'],
  ];
  for (const [amount, currency, expected] of cases) {
    t.equal(formatMoney(amount, currency), expected, `${amount} ${currency}`);
  }
  // Three-digit currencies: compare with Intl itself rather than hard-code its spacing.
  t.equal(formatMoney(1234, 'BHD'), new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'BHD' }).format(1.234));
});

t.test('formatMoney refuses bad input', async (t) => {
  t.throws(() => formatMoney(1.5, 'GBP'), RangeError, 'fractional minor units');
  t.throws(() => formatMoney(Number.NaN, 'GBP'), RangeError, 'NaN');
  t.throws(() => formatMoney(Number.MAX_SAFE_INTEGER + 1, 'GBP'), RangeError, 'unsafe');
  t.throws(() => formatMoney(100, 'gbp'), RangeError, 'lower-case currency');
  t.throws(() => formatMoney(100, 'POUNDS'), RangeError, 'not a code');
});

t.test('formatMoney keeps every penny of any safe amount', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (amount) => {
      const text = formatMoney(amount, 'GBP');
      const shape = /^-?£\d{1,3}(,\d{3})*\.\d{2}$/.test(text);
      const digits = BigInt(text.replace(/[^0-9]/g, ''));
      const sign = text.startsWith('-') ? -1n : 1n;
      return shape && sign * digits === BigInt(amount) && (amount < 0) === text.startsWith('-');
    }),
  );
  t.pass('property held');
});
