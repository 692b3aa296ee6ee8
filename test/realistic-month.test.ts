import t from 'tap';
import { appOnClock, checkedCall, createTestOrg, json } from './helpers/app.js';
import { assertLedgerInvariants } from './helpers/invariants.js';

// at() moves the app's clock (Europe/London is an hour ahead of UTC in summer).
const { app, at } = await appOnClock(t, '2026-06-01T08:00:00Z');

/**
 * June 2026 in a small co-production project: a 10% rate uplift from 15 June, a contributor on
 * ESA permitted work (weekly limit, block), one on Universal Credit (monthly limit from the 10th,
 * split), a carer who declines payment, a professional valued in kind, travel and childcare
 * expenses, a reversal, and payout runs on 5 June, 22 June, 1 July and 10 July. Money counts when
 * it is paid (docs/design.md): approving work only forecasts, each run pays what fits the limit period
 * of its payment date, and what does not fit stays owed for a later period's run. At the end
 * every balance must add up to the ledger.
 */
t.test('a realistic month adds up: limits hold money at payout and later runs pay it', async (t) => {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const approver = await org.as('finance');
  const coordinator = await org.as('coordinator');
  const call = checkedCall(t, app);

  // Monday 1 June: the project is set up; the limits are in force from today.
  at('2026-06-01T08:00:00Z');
  const project = await call('POST', '/v1/projects', finance, { name: 'Community mental health transformation' });
  const card = await call('POST', '/v1/rate-cards', finance, { name: 'NHS England involvement rates', currency: 'GBP' });
  const rates = (hourly: number) => [
    { activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: hourly, roundToMinutes: 30, minimumMinutes: 60 },
    { activity: 'meeting', contributorKind: 'carer', unit: 'hour', amount: hourly, roundToMinutes: 30, minimumMinutes: 60 },
    { activity: 'meeting', contributorKind: 'professional', unit: 'hour', amount: 4000, inKind: true },
    { activity: 'workshop', contributorKind: 'lived_experience', unit: 'session', amount: 7500 },
  ];
  await call('POST', `/v1/rate-cards/${card.id}/versions`, finance, { effectiveFrom: '2026-04-01', rates: rates(2000) });
  await call('POST', `/v1/rate-cards/${card.id}/versions`, finance, { effectiveFrom: '2026-06-15', rates: rates(2200) });
  const budget = await call('POST', '/v1/budgets', finance, {
    projectId: project.id, name: 'Lived experience involvement', funder: 'NHS England', grantReference: 'NHSE-CMH-26',
    currency: 'GBP', amount: 200_000, startsOn: '2026-04-01', endsOn: '2027-03-31', rateCardId: card.id,
  });
  const person = (name: string, kind: string, paymentMethod: string, earningsLimit?: object) =>
    call('POST', '/v1/contributors', coordinator, { name, kind, paymentMethod, ...(earningsLimit ? { earningsLimit } : {}) });
  const esa = await person('Esa Permitted', 'lived_experience', 'bank_transfer', { period: 'week', amount: 19550, periodStartDay: 1, policy: 'block' });
  const uc = await person('Uma Credit', 'lived_experience', 'bank_transfer', { period: 'month', amount: 10000, periodStartDay: 10, policy: 'split' });
  const carer = await person('Cal Declines', 'carer', 'declined');
  const pro = await person('Dr Pat Pro', 'professional', 'bank_transfer');

  const submit = (contributorId: string, date: string, minutes: number, activity = 'meeting') =>
    call('POST', '/v1/time-entries', coordinator, { contributorId, budgetId: budget.id, activity, date, minutes });
  const approve = (id: string) => call('POST', `/v1/time-entries/${id}/approve`, coordinator, undefined, 200);
  const balance = async (id: string) => (await call('GET', `/v1/contributors/${id}/balance`, finance)).balances[0];
  const item = (run: { items: { contributorId: string }[] }, contributorId: string) => run.items.find((i) => i.contributorId === contributorId);
  /** Drafts a run of everything owed, approves it as a second finance user and marks its items paid. */
  const payEveryone = async () => {
    const run = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP' });
    const approved = await call('POST', `/v1/payout-runs/${run.id}/approve`, approver, undefined, 200);
    for (const i of approved.items) await call('POST', `/v1/payouts/${i.id}/mark-paid`, finance, { reference: `BACS-${i.id.slice(-4)}` }, 200);
    return run;
  };

  // Friday 5 June: ESA's week so far is approved in full, 3 × 3h at £20 = £180 and then an hour
  // that would take what is owed past £195.50. Approval never refuses on the limit: it forecasts.
  at('2026-06-05T10:00:00Z');
  for (const date of ['2026-06-01', '2026-06-02', '2026-06-03']) {
    const fits = await approve((await submit(esa.id, date, 180)).id);
    t.match(fits, { amount: 6000, withheld: 0 });
    t.same(fits.warnings, [], 'what is owed still fits the week: no forecast');
  }
  const over = await approve((await submit(esa.id, '2026-06-04', 60)).id);
  t.match(over, { status: 'approved', amount: 2000, withheld: 0, limitOutcome: null, flagged: false }, 'the whole hour is owed');
  t.same(
    over.warnings,
    ["With this, £200.00 of earnings would be owed, but only £195.50 of this week's £195.50 earnings limit is left (until 2026-06-07): the payout run will hold what does not fit and pay it from 2026-06-08."],
    'the forecast says the run will hold what does not fit',
  );
  // Expenses: reimbursed, never earnings, never counted towards or held by a limit.
  const travel = await call('POST', '/v1/expenses', coordinator, { contributorId: esa.id, budgetId: budget.id, category: 'travel', amount: 1240, date: '2026-06-02', receiptReference: 'BUS-0602' });
  await call('POST', `/v1/expenses/${travel.id}/approve`, coordinator, undefined, 200);

  // The run of 5 June pays the three whole pieces that fit the week (£180) and holds the hour.
  const firstRun = await payEveryone();
  t.equal(firstRun.total, 19240);
  t.equal(firstRun.items.length, 1);
  t.match(item(firstRun, esa.id), { amount: 19240, earnings: 18000, expenses: 1240, carriedForward: 0, paymentDate: '2026-06-05', method: 'bank_transfer' });
  t.equal(firstRun.skipped.length, 1);
  t.match(firstRun.skipped, [{ contributorId: esa.id, reason: 'earnings_limit', amount: 2000, headroom: 19550, payableFrom: '2026-06-08' }]);
  t.match(await balance(esa.id), { owed: 2000, inTransit: 0, paid: 19240, earnings: { owed: 2000, paid: 18000 }, expenses: { owed: 0, paid: 1240 } }, 'the held hour stays owed');

  // Monday 22 June: the next weeks' work is approved.
  at('2026-06-22T10:00:00Z');
  // At the uplifted rate from 15 June: 45 min → 60 min minimum at £22.
  const uplifted = await approve((await submit(esa.id, '2026-06-15', 45)).id);
  t.match(uplifted, { amount: 2200, rateCardVersion: 2 });
  t.same(uplifted.warnings, [], 'a new week: what is owed fits');

  // UC: monthly period 10 June – 9 July, £100 limit; 4h at £22 = £88, then 2h = £44 is owed whole,
  // with a forecast that the run will pay up to the limit and the rest from 10 July.
  const fitsMonth = await approve((await submit(uc.id, '2026-06-16', 240)).id);
  t.match(fitsMonth, { amount: 8800 });
  t.same(fitsMonth.warnings, []);
  const beyond = await approve((await submit(uc.id, '2026-06-20', 120)).id);
  t.match(beyond, { amount: 4400, withheld: 0, limitOutcome: null, flagged: false });
  t.same(beyond.warnings, [
    "With this, £132.00 of earnings would be owed, but only £100.00 of this period's £100.00 earnings limit is left (until 2026-07-09): the payout run will pay up to the limit and the rest from 2026-07-10.",
  ]);
  // Before 10 June is the previous period, at the old rate: 2h at £20.
  t.match(await approve((await submit(uc.id, '2026-06-09', 120)).id), { amount: 4000, rateCardVersion: 1 });

  // The carer declines payment: value recorded, nothing owed. The professional is valued in kind.
  const declined = await approve((await submit(carer.id, '2026-06-16', 120)).id);
  t.match(declined, { amount: 0, value: 4400, declined: true });
  const inKind = await approve((await submit(pro.id, '2026-06-16', 120)).id);
  t.match(inKind, { amount: 0, value: 8000, inKind: true });

  const childcare = await call('POST', '/v1/expenses', coordinator, { contributorId: uc.id, budgetId: budget.id, category: 'childcare', amount: 3000, date: '2026-06-16' });
  await call('POST', `/v1/expenses/${childcare.id}/approve`, coordinator, undefined, 200);

  // A mistake reversed: the 9 June entry was the wrong day.
  const wrong = json(await app.inject({ method: 'GET', url: `/v1/time-entries?contributorId=${uc.id}&from=2026-06-09&to=2026-06-09`, headers: coordinator })).data[0];
  await call('POST', `/v1/time-entries/${wrong.id}/reverse`, coordinator, { reason: 'Recorded on the wrong day' }, 200);

  // Money owed: ESA the held £20 and £22; UC £88 + £44 and £30 of childcare.
  t.match(await balance(esa.id), { owed: 4200, earnings: { owed: 4200 }, expenses: { owed: 0 } });
  t.match(await balance(uc.id), { owed: 16200, earnings: { owed: 13200 }, expenses: { owed: 3000 } });
  t.same((await call('GET', `/v1/contributors/${carer.id}/balance`, finance)).balances, [], 'the carer who declined is owed nothing');

  // The run of 22 June: a new week for ESA, so the held hour is paid; UC is paid up to £100.
  const secondRun = await payEveryone();
  t.equal(secondRun.total, 17200);
  t.equal(secondRun.items.length, 2);
  t.match(item(secondRun, esa.id), { earnings: 4200, expenses: 0, carriedForward: 0, paymentDate: '2026-06-22' });
  t.match(item(secondRun, uc.id), { amount: 13000, earnings: 10000, expenses: 3000, carriedForward: 3200, paymentDate: '2026-06-22' });
  t.same(secondRun.skipped, []);
  t.match(await balance(esa.id), { owed: 0, inTransit: 0, paid: 23440 });
  t.match(await balance(uc.id), { owed: 3200, inTransit: 0, paid: 13000, earnings: { owed: 3200, paid: 10000 } }, 'the £32 carried forward stays owed');

  // 1 July is still UC's period: nothing more can be paid in it.
  at('2026-07-01T10:00:00Z');
  const samePeriod = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP' });
  t.same(samePeriod.items, [], 'no item: the period has no headroom left');
  t.equal(samePeriod.skipped.length, 1);
  t.match(samePeriod.skipped, [{ contributorId: uc.id, reason: 'earnings_limit', amount: 3200, headroom: 0, payableFrom: '2026-07-10' }]);
  await call('POST', `/v1/payout-runs/${samePeriod.id}/cancel`, finance, undefined, 200);

  // Friday 10 July, UC's next period: the run pays what was carried forward.
  at('2026-07-10T11:00:00Z');
  const thirdRun = await payEveryone();
  t.equal(thirdRun.total, 3200);
  t.equal(thirdRun.items.length, 1);
  t.match(thirdRun.items, [{ contributorId: uc.id, earnings: 3200, expenses: 0, carriedForward: 0, paymentDate: '2026-07-10' }]);
  t.same(thirdRun.skipped, []);
  t.match(await balance(uc.id), { owed: 0, inTransit: 0, paid: 16200, earnings: { paid: 13200 }, expenses: { paid: 3000 } });

  // Everything approved is paid: £222 + £132 of earnings, £12.40 + £30 of expenses.
  const b = await call('GET', `/v1/budgets/${budget.id}`, finance);
  t.match(b, { amount: 200_000, committed: 39640, paid: 39640, available: 200_000 - 39640 });

  // UC's statement counts money in the period it was paid, never past the limit.
  const statement = await call('GET', `/v1/contributors/${uc.id}/statement?from=2026-06-01&to=2026-07-31`, finance);
  t.same(
    statement.periods.map(({ from, to, limit, earningsPaid, headroom }: Record<string, unknown>) => ({ from, to, limit, earningsPaid, headroom })),
    [
      { from: '2026-05-10', to: '2026-06-09', limit: 10000, earningsPaid: 0, headroom: 10000 },
      { from: '2026-06-10', to: '2026-07-09', limit: 10000, earningsPaid: 10000, headroom: 0 },
      { from: '2026-07-10', to: '2026-08-09', limit: 10000, earningsPaid: 3200, headroom: 6800 },
    ],
  );
  t.equal(statement.taxYears.length, 1);
  t.match(statement.taxYears, [{ taxYear: '2026-27', earningsPaid: 13200, expensesPaid: 3000, tradingAllowanceRemaining: 100_000 - 13200 }]);
  // By the date of the work, everything approved is earned: approval withheld nothing.
  t.equal(statement.totals.earningsLimitPeriods.length, 1);
  t.match(statement.totals.earningsLimitPeriods, [{ start: '2026-06-10', end: '2026-07-09', earned: 13200, withheld: 0 }]);
  t.match(statement.totals.taxYears, [{ taxYear: '2026-27', earned: 13200, expenses: 3000 }]);
  t.equal(statement.payouts.length, 2, 'the payouts of 22 June and 10 July are in the statement');
  t.match(statement.payouts, [
    { amount: 13000, status: 'paid', paymentDate: '2026-06-22' },
    { amount: 3200, status: 'paid', paymentDate: '2026-07-10' },
  ]);
  // ESA's weeks: no week was paid past £195.50.
  const esaPeriods = (await call('GET', `/v1/contributors/${esa.id}/statement?from=2026-06-01&to=2026-06-28`, finance)).periods;
  t.equal(esaPeriods.length, 4);
  t.match(esaPeriods, [
    { from: '2026-06-01', to: '2026-06-07', limit: 19550, earningsPaid: 18000, headroom: 1550 },
    { from: '2026-06-08', to: '2026-06-14', earningsPaid: 0 },
    { from: '2026-06-15', to: '2026-06-21', earningsPaid: 0 },
    { from: '2026-06-22', to: '2026-06-28', earningsPaid: 4200 },
  ]);

  const distribution = await call('GET', `/v1/reports/distribution?budgetId=${budget.id}`, finance);
  t.match(distribution.groups.livedExperience, { earned: 35400, paid: 35400, expenses: 4240, declinedValue: 4400 });
  t.match(distribution.groups.professional, { earned: 0, inKindValue: 8000 });
  t.same((await call('GET', '/v1/ledger/trial-balance', finance)).balances, [{ currency: 'GBP', total: 0 }]);
  await assertLedgerInvariants(t, app.db, org.organisationId);
});
