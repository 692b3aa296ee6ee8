import t from 'tap';
import fc from 'fast-check';
import {
  esaPermittedWorkOn,
  limitOn,
  periodOf,
  planPayment,
  type EarningsLimit,
  type EarningsLimitVersion,
} from '../../src/domain/earnings-limit.js';
import { earningsLimitPolicies } from '../../src/domain/enums.js';

const monthly = (amount: number, policy: EarningsLimit['policy'], periodStartDay = 10): EarningsLimit => ({
  period: 'month',
  periodStartDay,
  amount,
  policy,
});
const pieces = (...amounts: number[]) => amounts.map((amount, key) => ({ key, amount }));

t.test('the £390 + £390 example: a £400 monthly limit, nothing yet paid in the period', async (t) => {
  const owed = pieces(39_000, 39_000);
  const block = planPayment(monthly(40_000, 'block'), 0, owed);
  t.same(block.pay, pieces(39_000), 'block pays the first whole piece');
  t.same([block.paid, block.held, block.carriedForward, block.headroom], [39_000, 39_000, 0, 40_000]);

  const split = planPayment(monthly(40_000, 'split'), 0, owed);
  t.same(split.pay, [{ key: 0, amount: 39_000 }, { key: 1, amount: 1_000 }], 'split pays up to the headroom, cutting the second');
  t.same([split.paid, split.held, split.carriedForward], [40_000, 0, 38_000]);

  const warn = planPayment(monthly(40_000, 'warn'), 0, owed);
  t.same([warn.paid, warn.held, warn.carriedForward, warn.overLimitBy], [78_000, 0, 0, 38_000], 'warn pays all and says by how much');
});

t.test('what was already paid in the period counts', async (t) => {
  const plan = planPayment(monthly(40_000, 'split'), 35_000, pieces(10_000));
  t.same([plan.headroom, plan.paid, plan.carriedForward], [5_000, 5_000, 5_000]);
  const over = planPayment(monthly(40_000, 'block'), 45_000, pieces(100));
  t.same([over.headroom, over.paid, over.held], [0, 0, 100], 'a period already past the limit pays nothing more');
});

t.test('block stops at the first piece that does not fit, oldest first', async (t) => {
  const plan = planPayment(monthly(10_000, 'block'), 0, pieces(3_000, 8_000, 1_000));
  t.same(plan.pay, pieces(3_000), 'the later small piece waits its turn');
  t.equal(plan.held, 9_000);
});

t.test('no limit pays everything', async (t) => {
  const plan = planPayment(null, 999_999, pieces(5, 6));
  t.same([plan.paid, plan.held, plan.carriedForward], [11, 0, 0]);
});

t.test('ESA permitted work follows the dated statutory figures', async (t) => {
  t.equal(esaPermittedWorkOn('2024-04-07'), null, 'before the first figure held here');
  t.equal(esaPermittedWorkOn('2024-04-08'), 18_350, '£183.50 in 2024-25');
  t.equal(esaPermittedWorkOn('2025-04-06'), 18_350);
  t.equal(esaPermittedWorkOn('2025-04-07'), 19_550, '£195.50 from April 2025');
  const versions: EarningsLimitVersion[] = [
    { effectiveFrom: '2024-06-03', period: 'week', amount: null, periodStartDay: 1, policy: 'block', preset: 'esa_permitted_work' },
  ];
  t.same(limitOn(versions, '2025-01-06'), { period: 'week', periodStartDay: 1, policy: 'block', amount: 18_350 });
  t.same(limitOn(versions, '2026-01-05'), { period: 'week', periodStartDay: 1, policy: 'block', amount: 19_550 }, 'the same version, the new figure');
});

t.test('a past period is judged by the version in force then', async (t) => {
  const versions: EarningsLimitVersion[] = [
    { effectiveFrom: '2026-01-01', period: 'month', amount: 40_000, periodStartDay: 1, policy: 'block', preset: null },
    { effectiveFrom: '2026-06-01', period: 'month', amount: 50_000, periodStartDay: 1, policy: 'split', preset: null },
    { effectiveFrom: '2026-09-01', period: null, amount: null, periodStartDay: null, policy: null, preset: null },
  ];
  t.equal(limitOn(versions, '2025-12-31'), null, 'before the first version');
  t.equal(limitOn(versions, '2026-05-31')?.amount, 40_000);
  t.equal(limitOn(versions, '2026-06-01')?.policy, 'split');
  t.equal(limitOn(versions, '2026-09-01'), null, 'ended');
  const sameDay: EarningsLimitVersion[] = [
    { effectiveFrom: '2026-06-01', period: 'month', amount: 1_000, periodStartDay: 1, policy: 'warn', preset: null },
    { effectiveFrom: '2026-06-01', period: 'month', amount: 2_000, periodStartDay: 1, policy: 'warn', preset: null },
  ];
  t.equal(limitOn(sameDay, '2026-06-15')?.amount, 2_000, 'of two from one day, the later added wins');
});

t.test('periodOf names the next period\'s first day', async (t) => {
  t.same(periodOf(monthly(1, 'block', 10), '2026-07-20'), { start: '2026-07-10', end: '2026-08-09', nextStart: '2026-08-10' });
  t.same(periodOf({ period: 'week', periodStartDay: 1 }, '2026-07-22'), { start: '2026-07-20', end: '2026-07-26', nextStart: '2026-07-27' });
});

t.test('property: nothing is lost, and block and split never pass the limit', async () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...earningsLimitPolicies),
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.integer({ min: 0, max: 1_500_000 }),
      fc.array(fc.integer({ min: 1, max: 500_000 }), { maxLength: 12 }),
      (policy, amount, paidInPeriod, owed) => {
        const plan = planPayment({ period: 'month', periodStartDay: 1, amount, policy }, paidInPeriod, pieces(...owed));
        const total = owed.reduce((a, b) => a + b, 0);
        const paidOfPieces = plan.pay.reduce((a, p) => a + p.amount, 0);
        if (paidOfPieces !== plan.paid || plan.paid + plan.held + plan.carriedForward !== total) return false;
        // Each piece is paid at most in full, in order.
        if (plan.pay.some((p, i) => p.key !== i || p.amount <= 0 || p.amount > owed[i]!)) return false;
        if (policy === 'warn') return plan.paid === total;
        return paidInPeriod + plan.paid <= Math.max(amount, paidInPeriod);
      },
    ),
    { numRuns: 2000 },
  );
});
