import { sql } from 'drizzle-orm';
import t from 'tap';
import { queryRows } from '../../src/db/client.js';
import { appOnClock, createTestOrg, json } from '../helpers/app.js';
import { addContributor, created, fundedBudget, submittedEntry } from '../helpers/fixtures.js';
import { assertLedgerInvariants } from '../helpers/invariants.js';

const { app, at } = await appOnClock(t, '2026-03-04T10:00:00Z');

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
    const payload = { contributorId: contributors[i % 20].id, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 60 };
    entries.push((await created(app, coordinator, '/v1/time-entries', payload)).id);
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

/**
 * Earnings limits apply when money is paid (docs/design.md "Money counts when it is received"), so
 * the race that can break one is two payout runs for the same contributor approved at once in
 * the same period: each was drafted to fit the period alone, together they would not. Approval
 * checks the limit again, and at most one of the two may pass it; the other is refused with 409
 * invalid_state and its money stays owed for a later period. On PostgreSQL (as in CI) the
 * approvals really run at once, over a pool of connections; on PGlite they queue, which checks
 * the same rule one after the other.
 */
t.test('two payout runs for one contributor approved at once in one period: one passes a blocking earnings limit, the other is refused and stays owed', async (t) => {
  at('2026-03-04T10:00:00Z'); // Wednesday: the week of Monday 2 March
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const approvers = await Promise.all([1, 2, 3, 4].map(() => org.as('finance')));
  const coordinator = await org.as('coordinator');
  const people = 8;
  const contributors: string[] = [];
  for (let i = 0; i < people; i++) {
    const person = await addContributor(app, coordinator, {
      name: `Limited ${i}`,
      kind: 'lived_experience',
      paymentMethod: 'voucher',
      earningsLimit: { period: 'week', amount: 10_000, periodStartDay: 1, policy: 'block' },
    });
    contributors.push(person.id);
  }

  // Each is owed two pieces of £80 (4 hours at £20), approved at once: approval never refuses or
  // withholds on a limit, so all of it is owed.
  const entries: string[] = [];
  for (const contributorId of contributors) {
    for (const date of ['2026-03-02', '2026-03-03']) {
      const res = await app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId, budgetId, activity: 'meeting', date, minutes: 240 } });
      entries.push(json(res).id);
    }
  }
  const approvals = await Promise.all(entries.map((id) => app.inject({ method: 'POST', url: `/v1/time-entries/${id}/approve`, headers: coordinator })));
  t.same(approvals.map((r) => r.statusCode), entries.map(() => 200), 'every approval succeeds');
  t.ok(approvals.every((r) => json(r).amount === 8_000 && json(r).withheld === 0), 'each £80 is owed whole');

  // Two drafts per contributor, each fitting £80 of the £100 week and holding the other £80.
  const runs: { contributorId: string; id: string }[] = [];
  for (const contributorId of contributors) {
    for (let copy = 0; copy < 2; copy++) {
      const res = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP', contributorIds: [contributorId] } });
      t.equal(res.statusCode, 201, res.body);
      const run = json(res);
      t.match(run.items, [{ contributorId, earnings: 8_000 }]);
      t.equal(run.items.length, 1);
      t.match(run.skipped, [{ contributorId, reason: 'earnings_limit', amount: 8_000, headroom: 10_000, payableFrom: '2026-03-09' }]);
      runs.push({ contributorId, id: run.id });
    }
  }

  // All the drafts approved at once, by four finance users (none of them the drafter).
  const results = await Promise.all(runs.map((run, i) => app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: approvers[i % 4]! })));
  t.equal(results.filter((r) => r.statusCode >= 500).length, 0, 'no 5xx');
  for (const contributorId of contributors) {
    const mine = results.filter((_, i) => runs[i]!.contributorId === contributorId);
    t.same(mine.map((r) => r.statusCode).sort(), [200, 409], `one run pays ${contributorId}, the other is refused`);
    const refused = mine.find((r) => r.statusCode === 409);
    if (refused) {
      t.equal(json(refused).code, 'invalid_state', refused.body);
      t.match(json(refused).detail, /earnings limit/);
    }
  }

  // In the week, each contributor's earnings paid or on their way are within the limit, and
  // what the refused run would have paid is still owed.
  const [inWeek] = await queryRows<{ over: string; contributors: string }>(app.db, sql`
    select count(*) filter (where total > 10000) as over, count(*) as contributors
      from (select contributor_id, sum(earnings) as total from payout_items
             where organisation_id = ${org.organisationId} and status in ('processing', 'paid')
               and payment_date between '2026-03-02' and '2026-03-08'
             group by contributor_id) paid`);
  t.same(inWeek, { over: '0', contributors: String(people) }, 'no contributor is past £100 in the week');
  for (const contributorId of contributors) {
    const balance = json(await app.inject({ method: 'GET', url: `/v1/contributors/${contributorId}/balance`, headers: finance })).balances[0];
    t.match(balance, { earnings: { owed: 8_000, inTransit: 8_000 } });
  }

  // The next week's run pays what was held.
  at('2026-03-09T10:00:00Z');
  const next = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP', contributorIds: contributors } });
  t.equal(next.statusCode, 201, next.body);
  t.same(
    json(next).items.map((i: { contributorId: string; earnings: number; paymentDate: string }) => [i.contributorId, i.earnings, i.paymentDate]).sort(),
    contributors.map((id) => [id, 8_000, '2026-03-09']).sort(),
  );
  t.same(json(next).skipped, []);
  const approvedNext = await app.inject({ method: 'POST', url: `/v1/payout-runs/${json(next).id}/approve`, headers: approvers[1]! });
  t.equal(approvedNext.statusCode, 200, approvedNext.body);
  await assertLedgerInvariants(t, app.db, org.organisationId);
});
