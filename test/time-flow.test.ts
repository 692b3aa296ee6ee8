import t from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';

// Wednesday 3 June 2026, in the week of Monday 1 June (Europe/London).
const app = await appForThisFile(t, { now: () => new Date('2026-06-03T10:00:00Z') });

t.test('time is quoted, approved whole within the budget (the earnings limit only forecasts), and shows in the balance', async (t) => {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const coordinator = await org.as('coordinator');
  const post = (url: string, payload: object, headers = finance) => app.inject({ method: 'POST', url, headers, payload });

  const project = json(await post('/v1/projects', { name: 'Peer support redesign' }));
  const card = json(await post('/v1/rate-cards', { name: 'Involvement', currency: 'GBP' }));
  const v1 = await post(`/v1/rate-cards/${card.id}/versions`, {
    effectiveFrom: '2026-04-01',
    rates: [{ activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: 2000, roundToMinutes: 30, minimumMinutes: 60 }],
  });
  t.equal(v1.statusCode, 201, v1.body);
  const budget = json(await post('/v1/budgets', {
    projectId: project.id, name: 'Panel', funder: 'NIHR', grantReference: 'NIHR-1', currency: 'GBP', amount: 10000,
    startsOn: '2026-04-01', endsOn: '2027-03-31', rateCardId: card.id,
  }));
  const person = json(await post('/v1/contributors', {
    name: 'Sam', kind: 'lived_experience', paymentMethod: 'bank_transfer',
    earningsLimit: { period: 'week', amount: 5000, periodStartDay: 1, policy: 'split' },
  }, coordinator));

  const entry = await post('/v1/time-entries', { contributorId: person.id, budgetId: budget.id, activity: 'meeting', date: '2026-06-01', minutes: 95 }, coordinator);
  t.equal(entry.statusCode, 201, entry.body);
  const quoted = json(entry);
  t.equal(quoted.status, 'submitted');
  t.equal(quoted.quote.amount, 4000, '95 minutes rounds up to 120 at £20/hour');
  t.equal(quoted.quote.rateCardVersion, 1);

  const approved = await post(`/v1/time-entries/${quoted.id}/approve`, {}, coordinator);
  t.equal(approved.statusCode, 200, approved.body);
  t.match(json(approved), { status: 'approved', amount: 4000, withheld: 0 });
  t.same(json(approved).warnings, [], '£40 owed fits the £50 weekly limit: no forecast');
  const again = await post(`/v1/time-entries/${quoted.id}/approve`, {}, coordinator);
  t.equal(again.statusCode, 409, again.body);
  t.equal(json(again).code, 'invalid_state');

  // Same week: only £10 of the £50 limit would be left. Approval neither refuses nor withholds:
  // the whole £20 is owed, and the forecast says what the payout run will do with it.
  const second = json(await post('/v1/time-entries', { contributorId: person.id, budgetId: budget.id, activity: 'meeting', date: '2026-06-03', minutes: 60 }, coordinator));
  const forecast = await post(`/v1/time-entries/${second.id}/approve`, {}, coordinator);
  t.equal(forecast.statusCode, 200, forecast.body);
  t.match(json(forecast), { status: 'approved', amount: 2000, withheld: 0, limitOutcome: null, flagged: false });
  t.same(json(forecast).warnings, [
    "With this, £60.00 of earnings would be owed, but only £50.00 of this week's £50.00 earnings limit is left (until 2026-06-07): the payout run will pay up to the limit and the rest from 2026-06-08.",
  ]);

  const balance = json(await app.inject({ method: 'GET', url: `/v1/contributors/${person.id}/balance`, headers: finance }));
  t.same(balance.balances, [{ currency: 'GBP', owed: 6000, inTransit: 0, paid: 0, earnings: { owed: 6000, inTransit: 0, paid: 0 }, expenses: { owed: 0, inTransit: 0, paid: 0 } }]);
  const b = json(await app.inject({ method: 'GET', url: `/v1/budgets/${budget.id}`, headers: finance }));
  t.match(b, { committed: 6000, available: 4000 });

  const reversed = await post(`/v1/time-entries/${second.id}/reverse`, { reason: 'Wrong date' }, coordinator);
  t.equal(reversed.statusCode, 200, reversed.body);
  t.match(json(await app.inject({ method: 'GET', url: `/v1/budgets/${budget.id}`, headers: finance })), { committed: 4000, available: 6000 });

  const statement = await app.inject({ method: 'GET', url: `/v1/contributors/${person.id}/statement?from=2026-04-01&to=2027-03-31`, headers: finance });
  t.equal(statement.statusCode, 200, statement.body);
  t.match(json(statement).totals.taxYears, [{ taxYear: '2026-27', earned: 4000 }]);
  t.match(json(statement).totals.earningsLimitPeriods, [{ start: '2026-06-01', end: '2026-06-07', earned: 4000, headroom: 1000 }]);
  // Nothing is paid yet, so nothing counts against the limit in any week.
  const periods = json(statement).periods;
  t.same(periods[0], { from: '2026-06-01', to: '2026-06-07', limit: 5000, earningsPaid: 0, headroom: 5000, currency: 'GBP' });
  t.ok(periods.every((p: { earningsPaid: number }) => p.earningsPaid === 0), 'no week has earnings paid');
  t.same(json(await app.inject({ method: 'GET', url: '/v1/ledger/trial-balance', headers: finance })).balances, [{ currency: 'GBP', total: 0 }]);
});

t.test('time for a contributor or budget id that is not one answers 404, not a database error', async (t) => {
  // Found by review (2026-12-01): the day's minutes, read beside the contributor's lock, sent a
  // malformed contributor id to the uuid column and answered 400 with a storage message.
  const org = await createTestOrg(app);
  const { fundedBudget, addContributor } = await import('./helpers/fixtures.js');
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const person = await addContributor(app, coordinator, { name: 'Kim', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  for (const [what, body] of [
    ['a malformed contributor id', { contributorId: 'not-a-uuid', budgetId }],
    ['a malformed budget id', { contributorId: person.id, budgetId: 'not-a-uuid' }],
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { ...body, activity: 'meeting', date: '2026-06-01', minutes: 30 } });
    t.equal(res.statusCode, 404, `${what}: ${res.body}`);
    t.equal(json(res).code, 'not_found', what);
  }
});
