import t from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';
import { testDatabase } from './helpers/database.js';

const app = await appForThisFile(t);

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

t.test('lockAccounts reads each balance, for every count of accounts its statements are chosen by', async (t) => {
  // One to four codes are each a parameter of a statement per count; more travel as an array.
  const org = await createTestOrg(app);
  const db = (await testDatabase()).db;
  const { postTransaction, lockAccounts } = await import('../src/modules/ledger/service.js');
  const { inTransaction } = await import('../src/db/tx.js');
  const { fundingAccount } = await import('../src/domain/ledger.js');
  const orgId = org.organisationId;
  const account = (i: number) => ({ code: `test:few:${i}`, type: 'settlement' as const, allowNegative: false });
  // Accounts 0 to 6 hold 1 to 7 pence; 7 and up do not exist yet.
  await inTransaction(db, (tx) =>
    postTransaction(tx, orgId, {
      type: 'test', referenceType: 'test', referenceId: 'few', effectiveDate: '2026-01-01', currency: 'GBP',
      postings: [{ account: fundingAccount(), amount: -28 }, ...Array.from({ length: 7 }, (_, i) => ({ account: account(i), amount: i + 1 }))],
    }),
  );
  for (let count = 1; count <= 6; count++) {
    // `count` accounts, the last of them new when count is even, listed backwards and one twice.
    const indexes = Array.from({ length: count }, (_, k) => (count % 2 === 0 && k === count - 1 ? 100 + count : k)).reverse();
    const read = await inTransaction(db, (tx) => lockAccounts(tx, orgId, 'GBP', [...indexes, indexes[0]!].map(account)));
    t.same(
      Object.fromEntries(read),
      Object.fromEntries(indexes.map((i) => [account(i).code, i >= 100 ? 0 : i + 1])),
      `${count} account${count === 1 ? '' : 's'}: each balance, a new account at zero`,
    );
  }
  const other = await createTestOrg(app);
  const elsewhere = await inTransaction(db, (tx) => lockAccounts(tx, other.organisationId, 'GBP', [account(0), account(1)]));
  t.same(Object.fromEntries(elsewhere), { [account(0).code]: 0, [account(1).code]: 0 }, 'another organisation’s accounts of the same codes are its own');
});

t.test('a ledger transaction of thousands of accounts, some new and some not, posts in full or not at all', async (t) => {
  // A payout run of ten thousand people touches twenty thousand accounts: more codes than one
  // statement may bind, half of them new. 2,600 per side crosses the 2,000-code lock chunks.
  const org = await createTestOrg(app);
  const db = (await testDatabase()).db;
  const { sql } = await import('drizzle-orm');
  const { postTransaction, lockAccounts } = await import('../src/modules/ledger/service.js');
  const { inTransaction } = await import('../src/db/tx.js');
  const { fundingAccount } = await import('../src/domain/ledger.js');
  type PostingInput = import('../src/domain/ledger.js').PostingInput;
  const orgId = org.organisationId;
  const n = 2600;
  const account = (side: string, i: number) => ({ code: `test:bulk:${side}:${String(i).padStart(5, '0')}`, type: 'settlement' as const, allowNegative: false });
  const post = (postings: PostingInput[]) =>
    inTransaction(db, (tx) =>
      postTransaction(tx, orgId, { type: 'test', referenceType: 'test', referenceId: 'bulk', effectiveDate: '2026-01-01', currency: 'GBP', postings }),
    );
  const total = (n * (n + 1)) / 2;
  // 1. Every account is new: funding pays i pence into account i.
  await post([{ account: fundingAccount(), amount: -total }, ...Array.from({ length: n }, (_, i) => ({ account: account('a', i), amount: i + 1 }))]);
  // 2. From each existing account into a new one: 2n postings, n accounts locked, n created.
  await post(Array.from({ length: n }, (_, i) => [
    { account: account('a', i), amount: -(i + 1) },
    { account: account('b', i), amount: i + 1 },
  ]).flat());

  const balances = async (side: string) =>
    (
      (await db.execute(sql`select code, balance from ledger_accounts where organisation_id = ${orgId} and code like ${`test:bulk:${side}:%`} order by code`)) as unknown as {
        rows: { code: string; balance: string | number }[];
      }
    ).rows.map((r) => Number(r.balance));
  t.same(await balances('a'), Array.from({ length: n }, () => 0), 'every first account paid out exactly what it received');
  t.same(await balances('b'), Array.from({ length: n }, (_, i) => i + 1), 'every second account holds its amount');
  const mismatched = (await db.execute(sql`
    select a.code from ledger_accounts a
     where a.organisation_id = ${orgId}
       and a.balance <> coalesce((select sum(p.amount) from ledger_postings p
                                   where p.organisation_id = a.organisation_id and p.account = a.code and p.currency = a.currency), 0)`)) as unknown as { rows: unknown[] };
  t.equal(mismatched.rows.length, 0, 'each cached balance is the sum of its postings');

  // lockAccounts reads back every balance, existing or new, across chunks.
  const read = await inTransaction(db, (tx) =>
    lockAccounts(tx, orgId, 'GBP', [...Array.from({ length: n }, (_, i) => account('b', i)), account('c', 0), account('c', 1)]),
  );
  t.equal(read.size, n + 2);
  t.equal(read.get(account('b', n - 1).code), n);
  t.equal(read.get(account('c', 1).code), 0, 'a new account starts at zero');

  // One penny too many out of the last account: refused, and nothing of the 2n postings lands.
  const countPostings = async () =>
    Number(((await db.execute(sql`select count(*)::int as n from ledger_postings where organisation_id = ${orgId}`)) as unknown as { rows: { n: number }[] }).rows[0]!.n);
  const before = await countPostings();
  await t.rejects(
    post(Array.from({ length: n }, (_, i) => [
      { account: account('b', i), amount: -(i + 1 + (i === n - 1 ? 1 : 0)) },
      { account: account('d', i), amount: i + 1 + (i === n - 1 ? 1 : 0) },
    ]).flat()),
    { code: 'invalid_state' },
  );
  t.equal(await countPostings(), before, 'no posting of the refused transaction was kept');
  t.same(await balances('d'), [], 'nor any account it would have opened');

  // The same overdraft past the service's own check (a stale balance handed to it): the
  // database refuses it part-way through the one INSERT of postings, reported as invalid_state.
  await t.rejects(
    inTransaction(db, async (tx) => {
      const postings = Array.from({ length: n }, (_, i) => [
        { account: account('b', i), amount: -(i + 1 + (i === n - 1 ? 1 : 0)) },
        { account: account('d', i), amount: i + 1 + (i === n - 1 ? 1 : 0) },
      ]).flat();
      const lockedBalances = await lockAccounts(tx, orgId, 'GBP', postings.map((p) => p.account));
      lockedBalances.set(account('b', n - 1).code, n + 1);
      return postTransaction(tx, orgId, { type: 'test', referenceType: 'test', referenceId: 'bulk', effectiveDate: '2026-01-01', currency: 'GBP', postings, lockedBalances });
    }),
    { code: 'invalid_state' },
  );
  t.equal(await countPostings(), before, 'the database kept none of it either');
  t.same(await balances('b'), Array.from({ length: n }, (_, i) => i + 1), 'every balance as it was');
});
