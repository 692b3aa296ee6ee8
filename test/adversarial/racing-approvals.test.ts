import t from 'tap';
import { appForThisFile, createTestOrg, json } from '../helpers/app.js';
import { addContributor, fundedBudget, submittedEntry } from '../helpers/fixtures.js';
import { assertLedgerInvariants } from '../helpers/invariants.js';

const app = await appForThisFile(t);

t.test('200 concurrent approvals against a budget with room for exactly N: N succeed, the rest 422, no 5xx', async (t) => {
  const org = await createTestOrg(app);
  const N = 37;
  // £20 an hour, one hour each: room for exactly N entries.
  const { finance, budgetId } = await fundedBudget(app, org, { amount: N * 2000 });
  const coordinator = await org.as('coordinator');
  const contributors = await Promise.all(
    Array.from({ length: 20 }, async (_, i) =>
      addContributor(app, coordinator, { name: `Racer ${i}`, kind: 'lived_experience', paymentMethod: 'bank_transfer' }),
    ),
  );
  const entries: string[] = [];
  for (let i = 0; i < 200; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/time-entries',
      headers: coordinator,
      payload: { contributorId: contributors[i % 20].id, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 60 },
    });
    entries.push(json(res).id);
  }
  const approvers = await Promise.all([1, 2, 3, 4].map(() => org.as('coordinator')));
  const results = await Promise.all(
    entries.map((id, i) => app.inject({ method: 'POST', url: `/v1/time-entries/${id}/approve`, headers: approvers[i % 4] })),
  );
  const statuses = results.map((r) => r.statusCode);
  t.equal(statuses.filter((s) => s === 200).length, N, 'exactly N approvals');
  t.equal(statuses.filter((s) => s === 422).length, 200 - N, 'the rest refused');
  t.ok(results.filter((r) => r.statusCode === 422).every((r) => json(r).code === 'budget_exceeded'));
  t.equal(statuses.filter((s) => s >= 500).length, 0, 'no 5xx');
  const budget = json(await app.inject({ method: 'GET', url: `/v1/budgets/${budgetId}`, headers: finance }));
  t.match(budget, { committed: N * 2000, available: 0 });
  await assertLedgerInvariants(t, app.db, org.organisationId);
});

t.test('the same entry approved by 30 racing requests is approved once', async (t) => {
  const org = await createTestOrg(app);
  const { coordinator, entry } = await submittedEntry(app, org, { name: 'Once', kind: 'carer', paymentMethod: 'voucher' }, 90);
  const results = await Promise.all(Array.from({ length: 30 }, () => app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator })));
  t.equal(results.filter((r) => r.statusCode === 200).length, 1);
  t.ok(results.filter((r) => r.statusCode !== 200).every((r) => r.statusCode === 409 && json(r).code === 'invalid_state'));
  await assertLedgerInvariants(t, app.db, org.organisationId);
});

t.test('racing approvals for one contributor never break a blocking earnings limit', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const person = await addContributor(app, coordinator, {
    name: 'Limited',
    kind: 'lived_experience',
    paymentMethod: 'bank_transfer',
    earningsLimit: { period: 'week', amount: 19550, periodStartDay: 1, policy: 'block' },
  });
  const ids = [];
  for (let day = 0; day < 12; day++) {
    ids.push(json(await app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId: person.id, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 120 } })).id);
  }
  const results = await Promise.all(ids.map((id) => app.inject({ method: 'POST', url: `/v1/time-entries/${id}/approve`, headers: coordinator })));
  // £40 each against £195.50 a week: four fit (£160), the fifth would pass the limit.
  t.equal(results.filter((r) => r.statusCode === 200).length, 4);
  const refused = results.filter((r) => r.statusCode === 422);
  t.equal(refused.length, 8);
  t.ok(refused.every((r) => json(r).code === 'earnings_limit_exceeded' && json(r).headroom === 3550));
  await assertLedgerInvariants(t, app.db, org.organisationId);
});
