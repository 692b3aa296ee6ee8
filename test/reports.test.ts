import t from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';
import { addContributor, fundedBudget, owedContributor } from './helpers/fixtures.js';

const app = await appForThisFile(t, { now: () => new Date('2026-05-01T12:00:00Z') });

t.test('distribution, grant and time-to-pay reports add up and never name anyone to a reporter', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const alex = await owedContributor(app, org, budgetId, { hours: 2, name: 'Alex Lived' });
  await owedContributor(app, org, budgetId, { hours: 1, paymentMethod: 'declined', name: 'Dee Declines' });
  const pro = await addContributor(app, coordinator, { name: 'Pat Pro', kind: 'professional', paymentMethod: 'bank_transfer' });
  const proEntry = json(await app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId: pro.id, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 60 } }));
  t.equal((await app.inject({ method: 'POST', url: `/v1/time-entries/${proEntry.id}/approve`, headers: coordinator })).statusCode, 200);
  const expense = json(await app.inject({ method: 'POST', url: '/v1/expenses', headers: coordinator, payload: { contributorId: alex.contributorId, budgetId, category: 'travel', amount: 730, date: '2026-03-02', receiptReference: 'R1' } }));
  t.equal((await app.inject({ method: 'POST', url: `/v1/expenses/${expense.id}/approve`, headers: coordinator })).statusCode, 200);

  const reporter = await org.as('reporter');
  const dist = await app.inject({ method: 'GET', url: `/v1/reports/distribution?budgetId=${budgetId}`, headers: reporter });
  t.equal(dist.statusCode, 200, dist.body);
  const d = json(dist);
  t.match(d.groups.livedExperience, { contributors: 2, minutes: 180, earned: 4000, expenses: 730, declinedValue: 2000, inKindValue: 0, effectiveHourlyRate: 2000 });
  t.match(d.groups.professional, { contributors: 1, minutes: 60, earned: 0, inKindValue: 3000 });
  t.equal(d.livedExperienceShareOfMoney, 1);
  t.equal(d.livedExperienceShareOfHours, 0.75);

  const grant = await app.inject({ method: 'GET', url: `/v1/reports/budgets/${budgetId}`, headers: reporter });
  t.equal(grant.statusCode, 200, grant.body);
  const g = json(grant);
  t.match(g, { committed: 4730, available: 1_000_000 - 4730 });
  t.equal(g.contributors.length, 3);
  t.notMatch(grant.body, /Alex|Dee|Pat/, 'no names in the grant report');
  const csv = await app.inject({ method: 'GET', url: `/v1/reports/budgets/${budgetId}`, headers: { ...reporter, accept: 'text/csv' } });
  t.equal(csv.statusCode, 200, csv.body);
  t.match(csv.headers['content-type'], /text\/csv/);
  t.match(csv.body, /^section,name,kind,minutes/);
  for (const line of g.contributors) t.match(csv.body, line.pseudonym);
  const again = json(await app.inject({ method: 'GET', url: `/v1/reports/budgets/${budgetId}`, headers: finance }));
  t.same(again.contributors.map((c: any) => c.pseudonym), g.contributors.map((c: any) => c.pseudonym), 'pseudonyms are stable');

  const ttp = await app.inject({ method: 'GET', url: '/v1/reports/time-to-pay', headers: reporter });
  t.equal(ttp.statusCode, 200, ttp.body);
  const report = json(ttp);
  t.match(report.owedAgeing, [{ bucket: '0-14', count: 0 }, { bucket: '15-30', count: 0 }, { bucket: '31-60', count: 2, amount: 4730 }, { bucket: '60+', count: 0 }]);
  t.equal(report.owedPastTarget.length, 1);
  t.notOk(report.owedPastTarget[0].name, 'reporters get pseudonyms only');
  const forFinance = json(await app.inject({ method: 'GET', url: '/v1/reports/time-to-pay', headers: finance }));
  t.equal(forFinance.owedPastTarget[0].name, 'Alex Lived');

  const audit = await app.inject({ method: 'GET', url: `/v1/audit-events?entityType=time_entry&entityId=${alex.entryId}`, headers: finance });
  t.equal(audit.statusCode, 200, audit.body);
  t.same(json(audit).data.map((e: any) => e.action), ['time_entry.submitted', 'time_entry.approved']);
  t.equal((await app.inject({ method: 'GET', url: '/v1/audit-events', headers: reporter })).statusCode, 403);
});

t.test("the grant report's months split earnings between lived experience (with carers) and professionals", async (t) => {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const coordinator = await org.as('coordinator');
  const post = async (url: string, payload: object, headers = finance) => {
    const res = await app.inject({ method: 'POST', url, headers, payload });
    t.ok(res.statusCode < 300, `${url}: ${res.statusCode} ${res.body}`);
    return json(res);
  };
  const project = await post('/v1/projects', { name: 'Paid professionals too' });
  const card = await post('/v1/rate-cards', { name: 'Everyone paid', currency: 'GBP' });
  await post(`/v1/rate-cards/${card.id}/versions`, {
    effectiveFrom: '2026-01-01',
    rates: ['lived_experience', 'carer', 'professional'].map((contributorKind) => ({ activity: 'meeting', contributorKind, unit: 'hour', amount: contributorKind === 'professional' ? 3000 : 2000 })),
  });
  const budget = await post('/v1/budgets', { projectId: project.id, name: 'Split', funder: 'F', grantReference: 'G', currency: 'GBP', amount: 100_000, startsOn: '2026-01-01', endsOn: '2026-12-31', rateCardId: card.id });
  for (const [kind, date, minutes] of [
    ['lived_experience', '2026-03-03', 60],
    ['carer', '2026-03-04', 30],
    ['professional', '2026-03-05', 60],
    ['professional', '2026-04-07', 120],
  ] as const) {
    const person = await post('/v1/contributors', { name: `A ${kind}`, kind, paymentMethod: 'voucher' }, coordinator);
    const entry = await post('/v1/time-entries', { contributorId: person.id, budgetId: budget.id, activity: 'meeting', date, minutes }, coordinator);
    await post(`/v1/time-entries/${entry.id}/approve`, {}, coordinator);
  }
  const report = json(await app.inject({ method: 'GET', url: `/v1/reports/budgets/${budget.id}`, headers: finance }));
  t.same(
    report.byMonth.map((m: any) => [m.month, m.earned, m.livedExperienceEarned, m.professionalEarned]),
    [
      ['2026-03', 6000, 3000, 3000],
      ['2026-04', 6000, 0, 6000],
    ],
  );
});

t.test('the distribution report filtered by project, budget and dates: work by its date, money paid by the day it was paid', async (t) => {
  const org = await createTestOrg(app);
  const first = await fundedBudget(app, org);
  const second = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const alex = await owedContributor(app, org, first.budgetId, { hours: 2, name: 'Alex' }); // 2026-03-02
  await owedContributor(app, org, second.budgetId, { hours: 1, name: 'Bo' }); // 2026-03-02
  const february = json(
    await app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId: alex.contributorId, budgetId: first.budgetId, activity: 'meeting', date: '2026-02-10', minutes: 60 } }),
  );
  t.equal((await app.inject({ method: 'POST', url: `/v1/time-entries/${february.id}/approve`, headers: coordinator })).statusCode, 200);

  // Alex's £60 is paid by bank transfer on the app's today, 2026-05-01.
  const draft = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: first.finance, payload: { currency: 'GBP', budgetId: first.budgetId } });
  t.equal(draft.statusCode, 201, draft.body);
  const approved = await app.inject({ method: 'POST', url: `/v1/payout-runs/${json(draft).id}/approve`, headers: await org.as('finance') });
  t.equal(approved.statusCode, 200, approved.body);
  t.equal(json(approved).items.length, 1);
  const paid = await app.inject({ method: 'POST', url: `/v1/payouts/${json(approved).items[0].id}/mark-paid`, headers: first.finance, payload: { reference: 'BACS 1' } });
  t.equal(paid.statusCode, 200, paid.body);

  const reporter = await org.as('reporter');
  const lived = async (query: string) => {
    const res = await app.inject({ method: 'GET', url: `/v1/reports/distribution?${query}`, headers: reporter });
    t.equal(res.statusCode, 200, `${query}: ${res.body}`);
    const g = json(res).groups.livedExperience;
    return { contributors: g.contributors, minutes: g.minutes, earned: g.earned, paid: g.paid };
  };
  t.same(await lived('currency=GBP'), { contributors: 2, minutes: 240, earned: 8000, paid: 6000 }, 'everything');
  t.same(await lived(`projectId=${first.projectId}`), { contributors: 1, minutes: 180, earned: 6000, paid: 6000 }, 'the first project');
  t.same(await lived(`projectId=${second.projectId}`), { contributors: 1, minutes: 60, earned: 2000, paid: 0 }, 'the second project');
  t.same(await lived(`budgetId=${first.budgetId}`), { contributors: 1, minutes: 180, earned: 6000, paid: 6000 }, 'the first budget');
  t.same(await lived('from=2026-03-01'), { contributors: 2, minutes: 180, earned: 6000, paid: 6000 }, 'from March: the payment in May counts');
  t.same(await lived('to=2026-02-28'), { contributors: 1, minutes: 60, earned: 2000, paid: 0 }, 'to February: no payment yet');
  t.same(await lived(`projectId=${second.projectId}&from=2026-04-01`), { contributors: 0, minutes: 0, earned: 0, paid: 0 }, 'nothing in both');
});
