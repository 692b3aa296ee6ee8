/**
 * Reports keep history as it happened and count money as it is received (docs/design.md "History
 * is kept as it happened", "Money counts when it is received"; docs/api-guide.md "Reports: limits and
 * CSV"), through the HTTP API: a change of a contributor's kind rewrites no report already
 * given, `paid` is earnings and never expenses, money in an unfinished payout item is still
 * waiting in the time-to-pay ageing, and days are counted between UK dates.
 */
import t, { type Test } from 'tap';
import { appForThisFile } from './helpers/app.js';
import { everyKindPaidRates } from './helpers/rate-cards.js';
import { paidWorld } from './helpers/paid-world.js';

let clock = new Date('2026-03-10T10:00:00Z');
const at = (iso: string) => {
  clock = new Date(iso);
};
const app = await appForThisFile(t, { now: () => clock });

type Headers = Record<string, string>;

/**
 * An organisation made at `start` where everyone is paid: £20 an hour for lived experience and
 * carers, £30 for professionals (not in kind); a budget, and more in the same project on demand.
 */
async function world(t: Test, start = '2026-03-10T10:00:00Z') {
  at(start);
  const { org, finance, finance2, coordinator, reporter, call, time, expense } = await paidWorld(t, app);
  const project = await call('POST', '/v1/projects', finance, { name: 'Everyone paid' });
  const card = await call('POST', '/v1/rate-cards', finance, { name: 'Paid rates', currency: 'GBP' });
  await call('POST', `/v1/rate-cards/${card.id}/versions`, finance, {
    effectiveFrom: '2026-01-01',
    rates: everyKindPaidRates,
  });
  let budgets = 0;
  /** Another budget of the project, as well as the first (`budgetId`). */
  const budget = async () =>
    (
      await call('POST', '/v1/budgets', finance, {
        projectId: project.id,
        name: `Budget ${++budgets}`,
        funder: 'Funder',
        grantReference: `G-${budgets}`,
        currency: 'GBP',
        amount: 1_000_000,
        startsOn: '2026-01-01',
        endsOn: '2026-12-31',
        rateCardId: card.id,
      })
    ).id as string;
  const person = async (name: string, kind: string, extra: object = {}) =>
    (await call('POST', '/v1/contributors', coordinator, { name, kind, paymentMethod: 'bank_transfer', ...extra })).id as string;
  /** Drafts a run of what is owed (optionally from one budget) and has another finance user approve it. */
  const approvedRun = async (payload: object = {}) => {
    const draft = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP', ...payload });
    return call('POST', `/v1/payout-runs/${draft.id}/approve`, finance2);
  };
  const markPaid = async (run: any) => {
    for (const item of run.items) await call('POST', `/v1/payouts/${item.id}/mark-paid`, finance, { reference: `BACS ${item.id.slice(-4)}` });
  };
  const get = async (url: string, headers: Headers = reporter) => {
    const res = await app.inject({ method: 'GET', url, headers });
    t.equal(res.statusCode, 200, `GET ${url}: ${res.body}`);
    return res.body;
  };
  const budgetId = await budget();
  return { org, finance, finance2, coordinator, reporter, call, budget, budgetId, person, time, expense, approvedRun, markPaid, get, projectId: project.id as string };
}

t.test('a change of kind after approval leaves earlier reports byte for byte; new work counts under the new kind', async (t) => {
  const w = await world(t);
  const first = w.budgetId;
  const second = await w.budget();

  const sam = await w.person('Sam Lived', 'lived_experience');
  await w.time(sam, first, '2026-03-02', 120); // £40
  await w.time(sam, first, '2026-03-05', 60); // £20, left owed
  await w.expense(sam, first, '2026-03-02', 730);
  const march = await w.approvedRun({ budgetId: first });
  t.match(march.items, [{ amount: 6730, earnings: 6000, expenses: 730 }]);
  at('2026-03-20T10:00:00Z');
  await w.markPaid(march);
  // More approved after the payment: owed, not paid.
  await w.time(sam, first, '2026-03-06', 60);

  const given = {
    distribution: `/v1/reports/distribution?budgetId=${first}`,
    march: '/v1/reports/distribution?to=2026-03-31',
    grant: `/v1/reports/budgets/${first}`,
    csv: `/v1/reports/budgets/${first}?format=csv`,
  };
  const fetchAll = async () => ({
    distribution: await w.get(given.distribution),
    march: await w.get(given.march),
    grant: await w.get(given.grant),
    csv: await w.get(given.csv),
  });
  const before = await fetchAll();

  const d = JSON.parse(before.distribution);
  t.match(d.groups.livedExperience, { contributors: 1, minutes: 240, earned: 8000, paid: 6000, expenses: 730, expensesPaid: 730 });
  t.match(d.groups.professional, { contributors: 0, earned: 0, paid: 0, expensesPaid: 0 });
  const g = JSON.parse(before.grant);
  t.match(g, { committed: 8730, owed: 2000, inTransit: 0, paid: 6000, expensesPaid: 730 });
  t.equal(g.committed, g.owed + g.inTransit + g.paid + g.expensesPaid, 'committed is owed, in transit, and paid earnings and expenses');
  t.equal(g.paid + g.expensesPaid, g.budget.paid, 'together they are what the budget has paid');
  t.match(g.contributors, [{ kind: 'lived_experience', earned: 8000, expenses: 730, paid: 6000, expensesPaid: 730 }]);
  t.match(g.byKind, [{ kind: 'lived_experience', contributors: 1, paid: 6000, expensesPaid: 730 }, { kind: 'carer', contributors: 0 }, { kind: 'professional', contributors: 0 }]);
  t.match(before.csv, /^section,name,kind,minutes,earned,expenses,in_kind_value,declined_value,paid,expenses_paid,amount\n/);
  t.match(before.csv, /\nbudget,Budget 1 \(Funder G-1\),,,,,,,6000,730,1000000\n/, 'the budget row: paid earnings and expenses apart');
  t.match(before.csv, /\ncontributor,P-[0-9A-F]+,lived_experience,240,8000,730,0,0,6000,730,\n/);

  // Sam is now counted as a professional; their new work is in the second budget.
  at('2026-04-02T10:00:00Z');
  await w.call('PATCH', `/v1/contributors/${sam}`, w.coordinator, { kind: 'professional' });
  await w.time(sam, second, '2026-04-01', 60); // £30 at the professional rate
  await w.expense(sam, second, '2026-04-01', 500);
  const april = await w.approvedRun({ budgetId: second });
  at('2026-04-10T10:00:00Z');
  await w.markPaid(april);

  const after = await fetchAll();
  for (const k of Object.keys(given) as (keyof typeof given)[]) t.equal(after[k], before[k], `${given[k]} is as it was given`);

  const all = JSON.parse(await w.get('/v1/reports/distribution?currency=GBP'));
  t.match(all.groups.livedExperience, { contributors: 1, minutes: 240, earned: 8000, paid: 6000, expenses: 730, expensesPaid: 730 });
  t.match(all.groups.professional, { contributors: 1, minutes: 60, earned: 3000, paid: 3000, expenses: 500, expensesPaid: 500 });
  t.equal(all.livedExperienceShareOfMoney, 0.727272, 'the share of money is of what each kind earned (£80 of £110)');
  const april2 = JSON.parse(await w.get('/v1/reports/distribution?from=2026-04-01'));
  t.match(april2.groups.livedExperience, { minutes: 0, earned: 0, paid: 0, expensesPaid: 0 }, 'nothing of the lived-experience work was paid in April');
  t.match(april2.groups.professional, { minutes: 60, earned: 3000, paid: 3000, expensesPaid: 500 });
  const g2 = JSON.parse(await w.get(`/v1/reports/budgets/${second}`));
  t.match(g2.contributors, [{ pseudonym: g.contributors[0].pseudonym, kind: 'professional', livedExperience: false, earned: 3000, paid: 3000, expensesPaid: 500 }]);
  t.match(g2.byMonth, [{ month: '2026-04', earned: 3000, livedExperienceEarned: 0, professionalEarned: 3000, expenses: 500 }]);
});

t.test('one payment for work of two kinds is shared by the kind recorded on the work it paid', async (t) => {
  const w = await world(t);
  const { budgetId } = w;
  const kit = await w.person('Kit Carer', 'carer');
  await w.time(kit, budgetId, '2026-03-02', 60); // £20 as a carer
  await w.expense(kit, budgetId, '2026-03-02', 300);
  await w.call('PATCH', `/v1/contributors/${kit}`, w.coordinator, { kind: 'professional' });
  await w.time(kit, budgetId, '2026-03-03', 60); // £30 as a professional
  const run = await w.approvedRun({ budgetId });
  t.match(run.items, [{ amount: 5300, earnings: 5000, expenses: 300 }], 'one item pays both');
  await w.markPaid(run);

  const d = JSON.parse(await w.get(`/v1/reports/distribution?budgetId=${budgetId}`));
  t.match(d.byKind, [
    { kind: 'lived_experience', contributors: 0, paid: 0 },
    { kind: 'carer', contributors: 1, minutes: 60, earned: 2000, paid: 2000, expenses: 300, expensesPaid: 300 },
    { kind: 'professional', contributors: 1, minutes: 60, earned: 3000, paid: 3000, expenses: 0, expensesPaid: 0 },
  ]);
  const g = JSON.parse(await w.get(`/v1/reports/budgets/${budgetId}`));
  t.equal(g.contributors.length, 2, 'a line for each kind Kit gave time as');
  t.equal(g.contributors[0].pseudonym, g.contributors[1].pseudonym, 'under the same pseudonym');
  t.match(g.contributors, [
    { kind: 'carer', livedExperience: true, earned: 2000, expenses: 300, paid: 2000, expensesPaid: 300 },
    { kind: 'professional', livedExperience: false, earned: 3000, expenses: 0, paid: 3000, expensesPaid: 0 },
  ]);
  t.match(g, { paid: 5000, expensesPaid: 300 });
  t.match(g.byMonth, [{ month: '2026-03', earned: 5000, livedExperienceEarned: 2000, professionalEarned: 3000, expenses: 300 }]);
});

t.test('someone who gave time with lived experience and then as a carer is one person in the lived-experience group', async (t) => {
  const w = await world(t);
  const { budgetId } = w;
  const ash = await w.person('Ash Lived', 'lived_experience');
  const bo = await w.person('Bo Carer', 'carer');
  const cy = await w.person('Cy Lived', 'lived_experience');
  const dee = await w.person('Dee Professional', 'professional');
  await w.time(ash, budgetId, '2026-03-02', 60); // £20 with lived experience
  await w.call('PATCH', `/v1/contributors/${ash}`, w.coordinator, { kind: 'carer' });
  await w.time(ash, budgetId, '2026-03-03', 120); // £40 as a carer
  await w.time(bo, budgetId, '2026-03-03', 60); // £20 as a carer
  await w.time(cy, budgetId, '2026-03-04', 30); // £10 with lived experience
  await w.time(dee, budgetId, '2026-03-04', 60); // £30 as a professional
  await w.markPaid(await w.approvedRun({ budgetId })); // paid on 10 March

  const d = JSON.parse(await w.get(`/v1/reports/distribution?budgetId=${budgetId}`));
  t.match(d.byKind, [
    { kind: 'lived_experience', contributors: 2, minutes: 90, earned: 3000, paid: 3000 },
    { kind: 'carer', contributors: 2, minutes: 180, earned: 6000, paid: 6000 },
    { kind: 'professional', contributors: 1, minutes: 60, earned: 3000, paid: 3000 },
  ]);
  t.match(
    d.groups.livedExperience,
    { contributors: 3, minutes: 270, earned: 9000, paid: 9000, effectiveHourlyRate: 2000 },
    'Ash, Bo and Cy: three people, though four lines (neither the sum of the kinds, 4, nor the larger kind, 2)',
  );
  t.match(d.groups.professional, { contributors: 1, minutes: 60, earned: 3000, paid: 3000, effectiveHourlyRate: 3000 });
  t.equal(d.livedExperienceShareOfMoney, 0.75, '£90 of £120');
  t.equal(d.livedExperienceShareOfHours, 0.818181, '270 of 330 minutes');

  // 3 to 5 March: Ash's lived-experience hour is outside it and so is the payment, so Ash counts
  // as a carer only, and once in the group.
  const range = JSON.parse(await w.get(`/v1/reports/distribution?budgetId=${budgetId}&from=2026-03-03&to=2026-03-05`));
  t.match(range.byKind, [
    { kind: 'lived_experience', contributors: 1, minutes: 30, earned: 1000, paid: 0 },
    { kind: 'carer', contributors: 2, minutes: 180, earned: 6000, paid: 0 },
    { kind: 'professional', contributors: 1, minutes: 60, earned: 3000, paid: 0 },
  ]);
  t.match(range.groups.livedExperience, { contributors: 3, minutes: 210, earned: 7000, paid: 0 });
  t.match(range.groups.professional, { contributors: 1, minutes: 60, earned: 3000, paid: 0 });
  t.equal(range.livedExperienceShareOfMoney, 0.7, '£70 of £100');
});

t.test('time-to-pay ageing: money in a pending or processing item is still waiting, until it is marked paid', async (t) => {
  const w = await world(t);
  const { budgetId } = w;
  const ola = await w.person('Ola Waiting', 'lived_experience');
  await w.time(ola, budgetId, '2026-03-02', 120);
  await w.expense(ola, budgetId, '2026-03-02', 730);
  at('2026-05-01T12:00:00Z'); // 60 days after the work
  const report = async () => JSON.parse(await w.get(`/v1/reports/time-to-pay?budgetId=${budgetId}`, w.finance));
  const waiting = [
    { bucket: '0-14', count: 0, amount: 0 },
    { bucket: '15-30', count: 0, amount: 0 },
    { bucket: '31-60', count: 2, amount: 4730 },
    { bucket: '60+', count: 0, amount: 0 },
  ];

  t.same((await report()).owedAgeing, waiting, 'owed');
  const draft = await w.call('POST', '/v1/payout-runs', w.finance, { currency: 'GBP', budgetId });
  t.same((await report()).owedAgeing, waiting, 'in a draft: pending, still waiting');
  const approved = await w.call('POST', `/v1/payout-runs/${draft.id}/approve`, w.finance2);
  t.equal(approved.items[0].status, 'processing');
  const processing = await report();
  t.same(processing.owedAgeing, waiting, 'approved but not yet marked paid: still waiting');
  t.match(processing.owedPastTarget, [{ contributorId: ola, name: 'Ola Waiting', oldestDays: 60, amount: 4730 }]);
  await w.markPaid(approved);
  const paid = await report();
  t.same(paid.owedAgeing.map((b: any) => b.count), [0, 0, 0, 0], 'paid: no longer waiting');
  t.same(paid.owedPastTarget, []);
});

t.test('time-to-pay ageing counts what is left of an entry an earnings limit paid in part', async (t) => {
  const w = await world(t);
  const { budgetId } = w;
  const uma = await w.person('Uma Limited', 'lived_experience', { earningsLimit: { period: 'week', amount: 3000, periodStartDay: 1, policy: 'split' } });
  await w.time(uma, budgetId, '2026-03-09', 120); // £40 against a £30 weekly limit
  const run = await w.approvedRun({ budgetId });
  t.match(run.items, [{ earnings: 3000, carriedForward: 1000 }]);
  await w.markPaid(run);
  at('2026-03-20T12:00:00Z');
  const report = JSON.parse(await w.get(`/v1/reports/time-to-pay?budgetId=${budgetId}`, w.finance));
  t.same(report.owedAgeing[0], { bucket: '0-14', count: 1, amount: 1000 }, 'the £10 carried forward waits; the £30 paid does not');
});

t.test('time-to-pay counts days between UK dates: an approval at 23:30 UTC in summer is the next day', async (t) => {
  const w = await world(t, '2026-06-01T10:00:00Z');
  const { budgetId } = w;
  const lee = await w.person('Lee Late', 'lived_experience');
  const owedOnly = await w.person('Mo Owed', 'lived_experience');
  await w.time(owedOnly, budgetId, '2026-05-31', 60);

  at('2026-06-10T23:30:00Z'); // 00:30 on 11 June in London
  await w.time(lee, budgetId, '2026-06-10', 60);
  at('2026-06-21T12:00:00Z');
  const run = await w.approvedRun({ contributorIds: [lee] });
  await w.markPaid(run);

  at('2026-06-30T23:30:00Z'); // 1 July in London
  const report = JSON.parse(await w.get(`/v1/reports/time-to-pay?budgetId=${budgetId}`));
  t.equal(report.asOf, '2026-07-01', "today is London's date");
  t.match(report.byProjectAndMethod, [
    { projectId: w.projectId, method: 'bank_transfer', entries: 2, paidEntries: 1, daysApprovalToPaid: { median: 10, p90: 10 } },
  ]);
  const approvalDays = report.byProjectAndMethod[0].daysWorkToApproval;
  // Lee: 10 June → approved 11 June (1 day, not 0); Mo: 31 May → approved 1 June (1 day).
  t.same(approvalDays, { median: 1, p90: 1 });
  t.same(report.owedAgeing[2], { bucket: '31-60', count: 1, amount: 2000 }, "Mo's work of 31 May is 31 days old on 1 July");
});
