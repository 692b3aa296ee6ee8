/**
 * Racing requests (docs/design.md, invariant 10). On PGlite the requests serialise; on PostgreSQL
 * (TEST_DATABASE_URL) they truly race over the pool, and only the row locks taken in
 * lockAccounts and on the rate card keep the results right. The same assertions hold for both.
 */
import t from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';
import { usingPostgres } from './helpers/database.js';

const app = await appForThisFile(t);

t.comment(`racing on ${usingPostgres() ? 'PostgreSQL' : 'PGlite'}`);

async function setup() {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const project = await app.inject({ method: 'POST', url: '/v1/projects', headers: finance, payload: { name: 'Race project' } });
  const card = await app.inject({ method: 'POST', url: '/v1/rate-cards', headers: finance, payload: { name: 'Race rates', currency: 'GBP' } });
  if (project.statusCode !== 201 || card.statusCode !== 201) throw new Error(`setup failed: ${project.body} ${card.body}`);
  return { org, finance, projectId: json(project).id as string, rateCardId: json(card).id as string };
}

t.test('30 racing negative adjustments: exactly as many succeed as the budget has room for', async (t) => {
  const { finance, projectId, rateCardId } = await setup();
  const X = 1_000;
  const N = 12;
  const start = N * X + X - 1; // room for exactly N removals of X, not N + 1
  const created = await app.inject({
    method: 'POST',
    url: '/v1/budgets',
    headers: finance,
    payload: { projectId, name: 'Contested', funder: 'F', grantReference: 'G', currency: 'GBP', amount: start, startsOn: '2026-01-01', endsOn: '2026-12-31', rateCardId },
  });
  t.equal(created.statusCode, 201, created.body);
  const budgetId = json(created).id as string;

  const results = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      app.inject({ method: 'POST', url: `/v1/budgets/${budgetId}/adjustments`, headers: finance, payload: { amount: -X, reason: `Clawback ${i}` } }),
    ),
  );
  const statuses = results.map((r) => r.statusCode);
  for (const r of results) t.ok(r.statusCode < 500, `no 5xx: ${r.statusCode} ${r.body}`);
  const succeeded = results.filter((r) => r.statusCode === 201);
  const refused = results.filter((r) => r.statusCode !== 201);
  t.equal(succeeded.length, N, `exactly ${N} succeed: ${JSON.stringify(statuses)}`);
  for (const r of refused) {
    t.equal(r.statusCode, 422, r.body);
    t.equal(json(r).code, 'budget_below_committed', r.body);
  }
  // Each success saw the budget as it stood after the ones before it.
  const seen = succeeded.map((r) => json(r).budget.available as number).sort((a, b) => b - a);
  t.same(
    seen,
    Array.from({ length: N }, (_, i) => start - (i + 1) * X),
    'the successes saw available fall by X each time, none saw the same balance',
  );

  const budget = await app.inject({ method: 'GET', url: `/v1/budgets/${budgetId}`, headers: finance });
  t.equal(budget.statusCode, 200, budget.body);
  t.equal(json(budget).available, start - N * X);
  t.ok(json(budget).available >= 0, 'the budget never went below zero');
  t.equal(json(budget).adjustments, -N * X);

  const transactions = json(
    await app.inject({ method: 'GET', url: `/v1/ledger/transactions?account=${encodeURIComponent(`budget:${budgetId}:available`)}&limit=200`, headers: finance }),
  );
  t.equal(transactions.data.length, 1 + N, 'the funding and one transaction per successful adjustment');
  const trial = await app.inject({ method: 'GET', url: '/v1/ledger/trial-balance', headers: finance });
  t.equal(trial.statusCode, 200, trial.body);
  t.same(json(trial), { balances: [{ currency: 'GBP', total: 0 }] });
  const accounts = json(await app.inject({ method: 'GET', url: '/v1/ledger/accounts', headers: finance }));
  t.same(
    accounts.data.map((a: { account: string; balance: number }) => [a.account, a.balance]).sort(),
    [
      [`budget:${budgetId}:available`, start - N * X],
      ['funding', -(start - N * X)],
    ].sort(),
  );
});

t.test('racing adjustments on two budgets of one organisation share the funding account safely', async (t) => {
  const { finance, projectId, rateCardId } = await setup();
  const ids: string[] = [];
  for (const name of ['One', 'Two']) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/budgets',
      headers: finance,
      payload: { projectId, name, funder: 'F', grantReference: name, currency: 'GBP', amount: 5_000, startsOn: '2026-01-01', endsOn: '2026-12-31', rateCardId },
    });
    t.equal(res.statusCode, 201, res.body);
    ids.push(json(res).id);
  }
  // Additions and removals interleaved on both budgets; removals of 1,000 fit five times each.
  const requests = Array.from({ length: 24 }, (_, i) => ({
    budgetId: ids[i % 2]!,
    amount: i % 3 === 0 ? 500 : -1_000,
  }));
  const results = await Promise.all(
    requests.map((r, i) =>
      app.inject({ method: 'POST', url: `/v1/budgets/${r.budgetId}/adjustments`, headers: finance, payload: { amount: r.amount, reason: `Race ${i}` } }),
    ),
  );
  for (const r of results) t.ok(r.statusCode === 201 || r.statusCode === 422, `201 or 422: ${r.statusCode} ${r.body}`);
  let funding = -10_000;
  for (const budgetId of ids) {
    const applied = requests
      .map((r, i) => ({ ...r, status: results[i]!.statusCode }))
      .filter((r) => r.budgetId === budgetId && r.status === 201)
      .reduce((sum, r) => sum + r.amount, 0);
    const budget = json(await app.inject({ method: 'GET', url: `/v1/budgets/${budgetId}`, headers: finance }));
    t.equal(budget.available, 5_000 + applied, 'the budget moved by exactly the adjustments that succeeded');
    t.ok(budget.available >= 0, 'and never went below zero');
    funding -= applied;
  }
  const accounts = json(await app.inject({ method: 'GET', url: '/v1/ledger/accounts?type=funding', headers: finance }));
  t.same(
    accounts.data.map((a: { account: string; balance: number }) => [a.account, a.balance]),
    [['funding', funding]],
  );
  t.same(json(await app.inject({ method: 'GET', url: '/v1/ledger/trial-balance', headers: finance })), { balances: [{ currency: 'GBP', total: 0 }] });
});

t.test('20 racing rate-card versions get the distinct numbers 1 to 20', async (t) => {
  const { finance, rateCardId } = await setup();
  const rates = [{ activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: 2500 }];
  const dates = Array.from({ length: 20 }, (_, i) => `2026-${String(1 + Math.floor(i / 2)).padStart(2, '0')}-${i % 2 ? '15' : '01'}`);
  t.equal(new Set(dates).size, 20, 'twenty distinct dates');
  const results = await Promise.all(
    dates.map((effectiveFrom) =>
      app.inject({ method: 'POST', url: `/v1/rate-cards/${rateCardId}/versions`, headers: finance, payload: { effectiveFrom, rates } }),
    ),
  );
  for (const r of results) t.equal(r.statusCode, 201, r.body);
  const numbers = results.filter((r) => r.statusCode === 201).map((r) => json(r).version as number);
  t.same(
    [...numbers].sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i + 1),
    'versions 1..20, each once',
  );
  const card = json(await app.inject({ method: 'GET', url: `/v1/rate-cards/${rateCardId}`, headers: finance }));
  t.equal(card.versions.length, 20);
  const byDate = new Map(results.map((r) => [json(r).effectiveFrom as string, json(r).version as number]));
  for (const v of card.versions as Array<{ version: number; effectiveFrom: string }>) {
    t.equal(byDate.get(v.effectiveFrom), v.version, `version ${v.version} is the one created for ${v.effectiveFrom}`);
  }
});

t.test('racing versions on the same date: one wins, the rest are 409 already_exists', async (t) => {
  const { finance, rateCardId } = await setup();
  const rates = [{ activity: 'workshop', contributorKind: 'carer', unit: 'session', amount: 6000 }];
  const results = await Promise.all(
    Array.from({ length: 8 }, () =>
      app.inject({ method: 'POST', url: `/v1/rate-cards/${rateCardId}/versions`, headers: finance, payload: { effectiveFrom: '2026-04-01', rates } }),
    ),
  );
  const won = results.filter((r) => r.statusCode === 201);
  t.equal(won.length, 1, JSON.stringify(results.map((r) => r.statusCode)));
  t.equal(json(won[0]!).version, 1);
  for (const r of results.filter((r) => r.statusCode !== 201)) {
    t.equal(r.statusCode, 409, r.body);
    t.equal(json(r).code, 'already_exists', r.body);
  }
  const next = await app.inject({ method: 'POST', url: `/v1/rate-cards/${rateCardId}/versions`, headers: finance, payload: { effectiveFrom: '2026-05-01', rates } });
  t.equal(next.statusCode, 201, next.body);
  t.equal(json(next).version, 2, 'the refused racers used up no version numbers');
});
