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

t.test('the database refuses an unbalanced ledger transaction at commit, and checks large ones once', async (t) => {
  const org = await createTestOrg(app);
  const db = (await testDatabase()).db;
  const { sql } = await import('drizzle-orm');
  const { newId } = await import('../src/lib/ids.js');
  const orgId = org.organisationId;
  await db.execute(sql`insert into ledger_accounts (organisation_id, code, currency, type, allow_negative)
    values (${orgId}, 'test:a', 'GBP', 'funding', true), (${orgId}, 'test:b', 'GBP', 'funding', true)`);
  const post = async (legs: number[]) =>
    db.transaction(async (tx) => {
      const id = newId();
      await tx.execute(sql`insert into ledger_transactions (organisation_id, id, type, reference_type, reference_id, effective_date)
        values (${orgId}, ${id}, 'test', 'test', 'test', '2026-01-01')`);
      for (const [i, amount] of legs.entries()) {
        await tx.execute(sql`insert into ledger_postings (organisation_id, id, transaction_id, account, currency, amount)
          values (${orgId}, ${newId()}, ${id}, ${i % 2 ? 'test:b' : 'test:a'}, 'GBP', ${amount})`);
      }
      return id;
    });

  // drizzle wraps the driver's error ("Failed query: commit"); the reason is in its cause.
  const refusal = async (work: Promise<unknown>) => {
    try {
      await work;
      return 'committed';
    } catch (error) {
      let e = error as { message?: string; cause?: unknown } | undefined;
      const messages = [];
      for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e) messages.push(e.message);
      return messages.join(' / ');
    }
  };
  t.match(await refusal(post([100, -99])), /does not balance/, 'one penny out is refused at commit');
  const many = Array.from({ length: 400 }, (_, i) => (i % 2 ? -(i + 1) : i + 2));
  t.ok(await post(many), '400 postings that balance commit');
  // A check run early (SET CONSTRAINTS ... IMMEDIATE) marks the transaction as balanced; a
  // posting added afterwards clears the mark, so the commit checks it again.
  t.match(
    await refusal(db.transaction(async (tx) => {
      const id = newId();
      await tx.execute(sql`insert into ledger_transactions (organisation_id, id, type, reference_type, reference_id, effective_date)
        values (${orgId}, ${id}, 'test', 'test', 'test', '2026-01-01')`);
      for (const amount of [700, -700]) {
        await tx.execute(sql`insert into ledger_postings (organisation_id, id, transaction_id, account, currency, amount)
          values (${orgId}, ${newId()}, ${id}, 'test:a', 'GBP', ${amount})`);
      }
      await tx.execute(sql`set constraints all immediate`);
      await tx.execute(sql`set constraints all deferred`);
      await tx.execute(sql`insert into ledger_postings (organisation_id, id, transaction_id, account, currency, amount)
        values (${orgId}, ${newId()}, ${id}, 'test:b', 'GBP', 5)`);
    })),
    /does not balance/,
    'a posting added after an early check is checked again',
  );
});
