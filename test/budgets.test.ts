import t from 'tap';
import { buildTestApp, createTestOrg, json } from './helpers/app.js';
import { testDatabase } from './helpers/database.js';

const app = await buildTestApp();
t.teardown(async () => {
  await app.close();
  await (await testDatabase()).close();
});

async function setup() {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const project = await app.inject({ method: 'POST', url: '/v1/projects', headers: finance, payload: { name: 'Mental health service redesign' } });
  const card = await app.inject({ method: 'POST', url: '/v1/rate-cards', headers: finance, payload: { name: 'Involvement rates', currency: 'GBP' } });
  return { org, finance, projectId: json(project).id as string, rateCardId: json(card).id as string };
}

t.test('a budget posts its amount into the ledger and reports figures from it', async (t) => {
  const { finance, projectId, rateCardId } = await setup();
  const res = await app.inject({
    method: 'POST',
    url: '/v1/budgets',
    headers: finance,
    payload: { projectId, name: 'Lived experience panel', funder: 'National Lottery Community Fund', grantReference: 'NLCF-1234', currency: 'GBP', amount: 500000, startsOn: '2026-04-01', endsOn: '2027-03-31', rateCardId },
  });
  t.equal(res.statusCode, 201, res.body);
  const budget = json(res);
  t.match(budget, { amount: 500000, committed: 0, paid: 0, available: 500000, adjustments: 0 });

  const accounts = json(await app.inject({ method: 'GET', url: '/v1/ledger/accounts', headers: finance }));
  t.same(
    accounts.data.map((a: any) => [a.account, a.balance]).sort(),
    [[`budget:${budget.id}:available`, 500000], ['funding', -500000]].sort(),
  );
  const trial = json(await app.inject({ method: 'GET', url: '/v1/ledger/trial-balance', headers: finance }));
  t.same(trial, { balances: [{ currency: 'GBP', total: 0 }] });

  const up = await app.inject({ method: 'POST', url: `/v1/budgets/${budget.id}/adjustments`, headers: finance, payload: { amount: 25000, reason: 'Uplift agreed with funder' } });
  t.equal(up.statusCode, 201, up.body);
  t.match(json(up).budget, { amount: 500000, adjustments: 25000, available: 525000 });
  const tooMuch = await app.inject({ method: 'POST', url: `/v1/budgets/${budget.id}/adjustments`, headers: finance, payload: { amount: -525001, reason: 'Clawback' } });
  t.equal(tooMuch.statusCode, 422, tooMuch.body);
  t.equal(json(tooMuch).code, 'budget_below_committed');
  const txs = json(await app.inject({ method: 'GET', url: `/v1/ledger/transactions?account=budget:${budget.id}:available`, headers: finance }));
  t.equal(txs.data.length, 2);
  t.equal(json(await app.inject({ method: 'GET', url: `/v1/budgets/${budget.id}`, headers: finance })).available, 525000);
});

t.test('postings cannot be changed or deleted, even in SQL', async (t) => {
  const { finance, projectId, rateCardId } = await setup();
  await app.inject({
    method: 'POST', url: '/v1/budgets', headers: finance,
    payload: { projectId, name: 'B', funder: 'F', grantReference: 'G', currency: 'GBP', amount: 100, startsOn: '2026-01-01', endsOn: '2026-12-31', rateCardId },
  });
  const db = await testDatabase();
  const run = (q: string): Promise<unknown> => (db.pglite ? db.pglite.query(q) : db.pool!.query(q));
  await t.rejects(run('update ledger_postings set amount = amount * 2'), /append-only/);
  await t.rejects(run('delete from ledger_postings'), /append-only/);
});
