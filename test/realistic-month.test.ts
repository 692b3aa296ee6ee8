import t from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';
import { assertLedgerInvariants } from './helpers/invariants.js';

const app = await appForThisFile(t, { now: () => new Date('2026-07-10T12:00:00Z') });

/**
 * June 2026 in a small co-production project: a 10% rate uplift from 15 June, a contributor on
 * ESA permitted work (weekly limit, block), one on Universal Credit (monthly limit, split), a
 * carer who declines payment, a professional valued in kind, travel expenses, a reversal and a
 * payout. At the end every balance must add up to the ledger.
 */
t.test('a realistic month adds up', async (t) => {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const coordinator = await org.as('coordinator');
  const call = async (method: 'POST' | 'GET', url: string, headers: Record<string, string>, payload?: object, expected = method === 'POST' ? 201 : 200) => {
    const res = await app.inject({ method, url, headers, payload });
    t.equal(res.statusCode, expected, `${method} ${url}: ${res.body}`);
    return json(res);
  };
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
  const approve = (id: string, expected = 200) => call('POST', `/v1/time-entries/${id}/approve`, coordinator, undefined, expected);

  // Week of 1 June (Mon): ESA earns 3 × 3h at £20 = £180, then a 4th hour would pass £195.50.
  for (const date of ['2026-06-01', '2026-06-02', '2026-06-03']) await approve((await submit(esa.id, date, 180)).id);
  const blocked = await approve((await submit(esa.id, '2026-06-04', 60)).id, 422);
  t.equal(blocked.code, 'earnings_limit_exceeded');
  t.equal(blocked.headroom, 1550, '£15.50 of headroom left in the week');
  t.match(blocked.detail, /£15\.50/);
  // The next week starts afresh, at the uplifted rate from 15 June: 45 min → 60 min minimum at £22.
  const uplifted = await approve((await submit(esa.id, '2026-06-15', 45)).id);
  t.match(uplifted, { amount: 2200, rateCardVersion: 2 });

  // UC: monthly period 10 June – 9 July, £100 limit; 4h at £22 = £88, then 2h = £44 splits £12 / £32.
  await approve((await submit(uc.id, '2026-06-16', 240)).id);
  const split = await approve((await submit(uc.id, '2026-06-20', 120)).id);
  t.match(split, { amount: 1200, withheld: 3200, limitOutcome: 'split' });
  // Before 10 June is the previous period, at the old rate: 2h at £20.
  await approve((await submit(uc.id, '2026-06-09', 120)).id);

  // The carer declines payment: value recorded, nothing owed. The professional is valued in kind.
  const declined = await approve((await submit(carer.id, '2026-06-16', 120)).id);
  t.match(declined, { amount: 0, value: 4400, declined: true });
  const inKind = await approve((await submit(pro.id, '2026-06-16', 120)).id);
  t.match(inKind, { amount: 0, value: 8000, inKind: true });

  // Expenses: reimbursed, never earnings, never counted towards a limit.
  const travel = await call('POST', '/v1/expenses', coordinator, { contributorId: esa.id, budgetId: budget.id, category: 'travel', amount: 1240, date: '2026-06-02', receiptReference: 'BUS-0602' });
  await call('POST', `/v1/expenses/${travel.id}/approve`, coordinator, undefined, 200);
  const childcare = await call('POST', '/v1/expenses', coordinator, { contributorId: uc.id, budgetId: budget.id, category: 'childcare', amount: 3000, date: '2026-06-16' });
  await call('POST', `/v1/expenses/${childcare.id}/approve`, coordinator, undefined, 200);

  // A mistake reversed: the 9 June entry was the wrong day.
  const wrong = json(await app.inject({ method: 'GET', url: `/v1/time-entries?contributorId=${uc.id}&from=2026-06-09&to=2026-06-09`, headers: coordinator })).data[0];
  await call('POST', `/v1/time-entries/${wrong.id}/reverse`, coordinator, { reason: 'Recorded on the wrong day' }, 200);

  // Money owed: ESA 18000 + 2200 earnings and 1240 expenses; UC 8800 + 1200 and 3000.
  const balance = async (id: string) => (await call('GET', `/v1/contributors/${id}/balance`, finance)).balances[0];
  t.match(await balance(esa.id), { owed: 21440, earnings: { owed: 20200 }, expenses: { owed: 1240 } });
  t.match(await balance(uc.id), { owed: 13000, earnings: { owed: 10000 }, expenses: { owed: 3000 } });
  t.same((await call('GET', `/v1/contributors/${carer.id}/balance`, finance)).balances, [], 'the carer who declined is owed nothing');

  // Pay everyone owed by bank transfer; four eyes; mark paid.
  const run = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP' });
  t.equal(run.total, 34440);
  const approved = await call('POST', `/v1/payout-runs/${run.id}/approve`, await org.as('finance'), undefined, 200);
  for (const item of approved.items) await call('POST', `/v1/payouts/${item.id}/mark-paid`, finance, { reference: `BACS-${item.id.slice(-4)}` }, 200);
  t.match(await balance(esa.id), { owed: 0, inTransit: 0, paid: 21440 });

  const b = await call('GET', `/v1/budgets/${budget.id}`, finance);
  t.match(b, { amount: 200_000, committed: 34440, paid: 34440, available: 200_000 - 34440 });
  const statement = await call('GET', `/v1/contributors/${uc.id}/statement?from=2026-06-01&to=2026-07-31`, finance);
  t.match(statement.totals.earningsLimitPeriods, [{ start: '2026-06-10', end: '2026-07-09', earned: 10000, withheld: 3200, headroom: 0 }]);
  t.match(statement.totals.taxYears, [{ taxYear: '2026-27', earned: 10000, expenses: 3000 }]);
  t.equal(statement.payouts.length, 1, 'the payout of 10 July is in the statement');
  t.match(statement.payouts[0], { amount: 13000, status: 'paid' });
  const distribution = await call('GET', `/v1/reports/distribution?budgetId=${budget.id}`, finance);
  t.match(distribution.groups.livedExperience, { earned: 30200, paid: 30200, expenses: 4240, declinedValue: 4400 });
  t.match(distribution.groups.professional, { earned: 0, inKindValue: 8000 });
  t.same((await call('GET', '/v1/ledger/trial-balance', finance)).balances, [{ currency: 'GBP', total: 0 }]);
  await assertLedgerInvariants(t, app.db, org.organisationId);
});
