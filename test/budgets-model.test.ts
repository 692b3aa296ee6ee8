import { randomUUID } from 'node:crypto';
import { and, count, eq } from 'drizzle-orm';
import t from 'tap';
import { auditEvents, budgets, ledgerAccounts, ledgerPostings, ledgerTransactions } from '../src/db/schema.js';
import { auditEventColumns } from '../src/modules/audit/views.js';
import { appForThisFile, createTestOrg, json, type TestOrg } from './helpers/app.js';

const app = await appForThisFile(t);

type Headers = Record<string, string>;

async function created(res: Awaited<ReturnType<typeof app.inject>>, what: string): Promise<string> {
  if (res.statusCode !== 201) throw new Error(`could not create ${what} (${res.statusCode}): ${res.body}`);
  return json(res).id as string;
}

async function setup() {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const projectId = await created(
    await app.inject({ method: 'POST', url: '/v1/projects', headers: finance, payload: { name: 'Peer support redesign' } }),
    'a project',
  );
  const rateCardId = await created(
    await app.inject({ method: 'POST', url: '/v1/rate-cards', headers: finance, payload: { name: 'Involvement rates', currency: 'GBP' } }),
    'a rate card',
  );
  return { org, finance, projectId, rateCardId };
}

const budgetBody = (projectId: string, rateCardId: string, extra: Record<string, unknown> = {}) => ({
  projectId,
  name: 'Lived experience panel',
  funder: 'NIHR',
  grantReference: 'NIHR-204512',
  currency: 'GBP',
  amount: 120000,
  startsOn: '2026-04-01',
  endsOn: '2027-03-31',
  rateCardId,
  ...extra,
});

const postBudget = (headers: Headers, payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/budgets', headers, payload });
const adjust = (headers: Headers, budgetId: string, payload: Record<string, unknown>) =>
  app.inject({ method: 'POST', url: `/v1/budgets/${budgetId}/adjustments`, headers, payload });

/** Row counts of everything a budget operation could write, for one organisation. */
async function footprint(org: TestOrg) {
  const n = async (table: typeof budgets | typeof ledgerTransactions | typeof ledgerPostings | typeof ledgerAccounts | typeof auditEvents) =>
    (await app.db.select({ n: count() }).from(table).where(eq(table.organisationId, org.organisationId)))[0]?.n ?? -1;
  const balances = await app.db
    .select({ code: ledgerAccounts.code, currency: ledgerAccounts.currency, balance: ledgerAccounts.balance })
    .from(ledgerAccounts)
    .where(eq(ledgerAccounts.organisationId, org.organisationId))
    .orderBy(ledgerAccounts.code, ledgerAccounts.currency);
  return {
    budgets: await n(budgets),
    transactions: await n(ledgerTransactions),
    postings: await n(ledgerPostings),
    accounts: await n(ledgerAccounts),
    auditEvents: await n(auditEvents),
    balances,
  };
}

function hasField(problem: { errors?: Array<{ field: string }> }, field: string): boolean {
  return (problem.errors ?? []).some((e) => e.field === field);
}

t.test('budget bodies that fail their schema: 400 naming the field, nothing written', async (t) => {
  const { org, finance, projectId, rateCardId } = await setup();
  const before = await footprint(org);
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['endsOn before startsOn', { startsOn: '2026-04-01', endsOn: '2026-03-31' }, 'body.endsOn'],
    ['impossible startsOn 2026-02-30', { startsOn: '2026-02-30' }, 'body.startsOn'],
    ['impossible endsOn 2027-02-29', { endsOn: '2027-02-29' }, 'body.endsOn'],
    ['month 13', { endsOn: '2026-13-01' }, 'body.endsOn'],
    ['a date as a timestamp', { startsOn: '2026-04-01T00:00:00Z' }, 'body.startsOn'],
    ['lower-case currency', { currency: 'gbp' }, 'body.currency'],
    ['unknown currency shape', { currency: 'POUNDS' }, 'body.currency'],
    ['fractional amount', { amount: 1200.5 }, 'body.amount'],
    ['negative amount', { amount: -1 }, 'body.amount'],
    ['amount over MAX_SAFE_INTEGER', { amount: Number.MAX_SAFE_INTEGER + 1 }, 'body.amount'],
    ['amount as a string', { amount: '120000' }, 'body.amount'],
    ['amount as a float string in exponent form', { amount: 1e300 }, 'body.amount'],
    ['allowOverspend as a string', { allowOverspend: 'yes' }, 'body.allowOverspend'],
    ['empty funder', { funder: '' }, 'body.funder'],
  ];
  for (const [label, extra, field] of cases) {
    const res = await postBudget(finance, budgetBody(projectId, rateCardId, extra));
    t.equal(res.statusCode, 400, `${label}: ${res.body}`);
    const problem = json(res);
    t.equal(problem.code, 'validation_failed', label);
    t.ok(hasField(problem, field), `${label}: errors name ${field}: ${JSON.stringify(problem.errors)}`);
  }
  const unknown = await postBudget(finance, budgetBody(projectId, rateCardId, { overheadRate: 0.2 }));
  t.equal(unknown.statusCode, 400, unknown.body);
  t.equal(json(unknown).code, 'validation_failed');
  t.same(await footprint(org), before, 'nothing was written');

  // The boundaries themselves are fine: a one-day budget, amount 0, and MAX_SAFE_INTEGER.
  const oneDay = await postBudget(finance, budgetBody(projectId, rateCardId, { startsOn: '2028-02-29', endsOn: '2028-02-29', amount: 0 }));
  t.equal(oneDay.statusCode, 201, oneDay.body);
  t.match(json(oneDay), { amount: 0, available: 0, committed: 0 });
  const max = await postBudget(finance, budgetBody(projectId, rateCardId, { amount: Number.MAX_SAFE_INTEGER }));
  t.equal(max.statusCode, 201, max.body);
  t.match(json(max), { amount: Number.MAX_SAFE_INTEGER, available: Number.MAX_SAFE_INTEGER });
});

t.test('a rate card in another currency: 422 currency_mismatch, nothing written', async (t) => {
  const { org, finance, projectId } = await setup();
  const eurCard = await created(
    await app.inject({ method: 'POST', url: '/v1/rate-cards', headers: finance, payload: { name: 'Irish rates', currency: 'EUR' } }),
    'a EUR rate card',
  );
  const before = await footprint(org);
  const res = await postBudget(finance, budgetBody(projectId, eurCard, { currency: 'GBP' }));
  t.equal(res.statusCode, 422, res.body);
  t.equal(json(res).code, 'currency_mismatch');
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  t.same(await footprint(org), before, 'nothing was written');

  const eur = await postBudget(finance, budgetBody(projectId, eurCard, { currency: 'EUR' }));
  t.equal(eur.statusCode, 201, eur.body);
  t.match(json(eur), { currency: 'EUR', available: 120000 });
});

t.test("another organisation's project or rate card: 404 and nothing written", async (t) => {
  const mine = await setup();
  const theirs = await setup();
  const before = await footprint(mine.org);
  const theirsBefore = await footprint(theirs.org);
  const cases: Array<[string, Record<string, unknown>]> = [
    ["their project", budgetBody(theirs.projectId, mine.rateCardId)],
    ["their rate card", budgetBody(mine.projectId, theirs.rateCardId)],
    ['both theirs', budgetBody(theirs.projectId, theirs.rateCardId)],
    ['a project that does not exist', budgetBody(randomUUID(), mine.rateCardId)],
    ['a rate card that does not exist', budgetBody(mine.projectId, randomUUID())],
    ['a malformed project id', budgetBody('not-a-uuid', mine.rateCardId)],
  ];
  for (const [label, payload] of cases) {
    const res = await postBudget(mine.finance, payload);
    t.equal(res.statusCode, 404, `${label}: ${res.body}`);
    t.equal(json(res).code, 'not_found', label);
  }
  t.same(await footprint(mine.org), before, 'nothing was written to my organisation');
  t.same(await footprint(theirs.org), theirsBefore, "nothing was written to theirs");
});

t.test('who may create budgets', async (t) => {
  const { org, projectId, rateCardId } = await setup();
  for (const role of ['coordinator', 'participant', 'reporter'] as const) {
    let headers: Headers;
    if (role === 'participant') {
      const contributor = await app.inject({
        method: 'POST',
        url: '/v1/contributors',
        headers: await org.as('coordinator'),
        payload: { name: 'P', kind: 'carer', paymentMethod: 'voucher' },
      });
      headers = await org.as('participant', { contributorId: json(contributor).id });
    } else {
      headers = await org.as(role);
    }
    const res = await postBudget(headers, budgetBody(projectId, rateCardId));
    t.equal(res.statusCode, 403, `${role}: ${res.body}`);
  }
  const admin = await postBudget(await org.as('admin'), budgetBody(projectId, rateCardId));
  t.equal(admin.statusCode, 201, admin.body);
});

t.test('adjustments add and remove money, never below what is available', async (t) => {
  const { org, finance, projectId, rateCardId } = await setup();
  const budget = json(await postBudget(finance, budgetBody(projectId, rateCardId, { amount: 100000 })));

  const up = await adjust(finance, budget.id, { amount: 25000, reason: 'Uplift agreed with funder' });
  t.equal(up.statusCode, 201, up.body);
  t.match(json(up), {
    adjustment: { transactionId: String, amount: 25000, reason: 'Uplift agreed with funder' },
    budget: { id: budget.id, amount: 100000, adjustments: 25000, total: 125000, committed: 0, available: 125000 },
  });

  const down = await adjust(finance, budget.id, { amount: -40000, reason: 'Underspend returned' });
  t.equal(down.statusCode, 201, down.body);
  t.match(json(down).budget, { amount: 100000, adjustments: -15000, total: 85000, available: 85000 });

  for (const [label, payload, field] of [
    ['zero', { amount: 0, reason: 'Nothing' }, 'body.amount'],
    ['fractional', { amount: 10.5, reason: 'Half pence' }, 'body.amount'],
    ['unsafe', { amount: -(2 ** 53), reason: 'Huge' }, 'body.amount'],
    ['no reason', { amount: 100 }, 'body.reason'],
    ['empty reason', { amount: 100, reason: '  ' }, 'body.reason'],
  ] as const) {
    const res = await adjust(finance, budget.id, payload);
    t.equal(res.statusCode, 400, `${label}: ${res.body}`);
    t.equal(json(res).code, 'validation_failed', label);
    t.ok(hasField(json(res), field), `${label}: errors name ${field}: ${res.body}`);
  }

  const before = await footprint(org);
  const tooMuch = await adjust(finance, budget.id, { amount: -85001, reason: 'Clawback' });
  t.equal(tooMuch.statusCode, 422, tooMuch.body);
  t.equal(json(tooMuch).code, 'budget_below_committed');
  t.equal(json(tooMuch).available, 85000, 'the problem says what is available');
  t.same(await footprint(org), before, 'a refused adjustment writes nothing');

  const exact = await adjust(finance, budget.id, { amount: -85000, reason: 'Grant withdrawn' });
  t.equal(exact.statusCode, 201, exact.body);
  t.match(json(exact).budget, { available: 0, total: 0, adjustments: -100000 });
  const belowZero = await adjust(finance, budget.id, { amount: -1, reason: 'One more penny' });
  t.equal(belowZero.statusCode, 422, belowZero.body);
  t.equal(json(belowZero).code, 'budget_below_committed');

  const got = json(await app.inject({ method: 'GET', url: `/v1/budgets/${budget.id}`, headers: finance }));
  t.match(got, { amount: 100000, adjustments: -100000, available: 0 });
  const trial = json(await app.inject({ method: 'GET', url: '/v1/ledger/trial-balance', headers: finance }));
  t.same(trial, { balances: [{ currency: 'GBP', total: 0 }] });

  // Every accepted adjustment is audited with the budget before and after.
  const events = await app.db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, org.organisationId), eq(auditEvents.entityType, 'budget'), eq(auditEvents.entityId, budget.id)))
    .orderBy(auditEvents.id);
  t.same(
    events.map((e) => e.action),
    ['budget.created', 'budget.adjusted', 'budget.adjusted', 'budget.adjusted'],
  );
  t.match(events[1], { before: { available: 100000 }, after: { available: 125000, adjustment: { amount: 25000 } } });
});

t.test('an overspendable budget still cannot be adjusted below zero available', async (t) => {
  const { finance, projectId, rateCardId } = await setup();
  const budget = json(await postBudget(finance, budgetBody(projectId, rateCardId, { amount: 5000, allowOverspend: true })));
  t.equal(budget.allowOverspend, true);
  const res = await adjust(finance, budget.id, { amount: -5001, reason: 'Too much' });
  t.equal(res.statusCode, 422, res.body);
  t.equal(json(res).code, 'budget_below_committed');
});

t.test('adjusting a budget that is not ours, or not there, is 404', async (t) => {
  const mine = await setup();
  const theirs = await setup();
  const theirBudget = json(await postBudget(theirs.finance, budgetBody(theirs.projectId, theirs.rateCardId)));
  const theirsBefore = await footprint(theirs.org);
  for (const id of [theirBudget.id, randomUUID(), 'nope']) {
    const res = await adjust(mine.finance, id, { amount: -100, reason: 'Hostile' });
    t.equal(res.statusCode, 404, res.body);
    t.equal(json(res).code, 'not_found');
    const get = await app.inject({ method: 'GET', url: `/v1/budgets/${id}`, headers: mine.finance });
    t.equal(get.statusCode, 404, get.body);
  }
  t.same(await footprint(theirs.org), theirsBefore);
});

t.test('budgets are listed per project', async (t) => {
  const { org, finance, projectId, rateCardId } = await setup();
  const otherProject = await created(
    await app.inject({ method: 'POST', url: '/v1/projects', headers: finance, payload: { name: 'Carers strategy' } }),
    'another project',
  );
  const a = json(await postBudget(finance, budgetBody(projectId, rateCardId, { name: 'A', amount: 1000 })));
  const b = json(await postBudget(finance, budgetBody(projectId, rateCardId, { name: 'B', amount: 2000 })));
  const c = json(await postBudget(finance, budgetBody(otherProject, rateCardId, { name: 'C', amount: 3000 })));

  const forProject = await app.inject({ method: 'GET', url: `/v1/budgets?projectId=${projectId}`, headers: finance });
  t.equal(forProject.statusCode, 200, forProject.body);
  t.same(
    json(forProject).data.map((x: { id: string; available: number }) => [x.id, x.available]),
    [
      [a.id, 1000],
      [b.id, 2000],
    ],
  );
  t.equal(json(forProject).nextCursor, null);
  const forOther = json(await app.inject({ method: 'GET', url: `/v1/budgets?projectId=${otherProject}`, headers: finance }));
  t.same(
    forOther.data.map((x: { id: string }) => x.id),
    [c.id],
  );
  const all = json(await app.inject({ method: 'GET', url: '/v1/budgets', headers: finance }));
  t.same(
    all.data.map((x: { id: string }) => x.id),
    [a.id, b.id, c.id],
  );
  const paged = json(await app.inject({ method: 'GET', url: `/v1/budgets?projectId=${projectId}&limit=1`, headers: finance }));
  t.same(
    paged.data.map((x: { id: string }) => x.id),
    [a.id],
  );
  t.type(paged.nextCursor, 'string');
  const second = json(
    await app.inject({ method: 'GET', url: `/v1/budgets?projectId=${projectId}&limit=1&cursor=${encodeURIComponent(paged.nextCursor)}`, headers: finance }),
  );
  t.same(
    second.data.map((x: { id: string }) => x.id),
    [b.id],
  );
  const none = json(await app.inject({ method: 'GET', url: `/v1/budgets?projectId=${randomUUID()}`, headers: finance }));
  t.same(none.data, []);
  const coordinator = await app.inject({ method: 'GET', url: `/v1/budgets?projectId=${projectId}`, headers: await org.as('coordinator') });
  t.equal(coordinator.statusCode, 200, coordinator.body);
  t.equal(json(coordinator).data.length, 2);
});

t.test('money past safe integers is refused with a 4xx and never breaks the ledger', async (t) => {
  // Each amount below is a safe integer, but together they would take an account's balance past
  // Number.MAX_SAFE_INTEGER, where a balance read as a JS number loses pennies.
  const { org, finance, projectId, rateCardId } = await setup();
  const first = await postBudget(finance, budgetBody(projectId, rateCardId, { amount: Number.MAX_SAFE_INTEGER }));
  t.equal(first.statusCode, 201, first.body);
  const before = await footprint(org);

  const up = await adjust(finance, json(first).id, { amount: 1, reason: 'One penny too many' });
  t.ok(up.statusCode >= 400 && up.statusCode < 500, `adding to a full budget is a 4xx, not ${up.statusCode}: ${up.body}`);
  t.same(await footprint(org), before, 'the refused adjustment wrote nothing');

  const second = await postBudget(finance, budgetBody(projectId, rateCardId, { amount: Number.MAX_SAFE_INTEGER }));
  t.ok(second.statusCode >= 400 && second.statusCode < 500, `a second budget overflowing funding is a 4xx, not ${second.statusCode}: ${second.body}`);
  t.same(await footprint(org), before, 'the refused budget wrote nothing');

  const accounts = await app.inject({ method: 'GET', url: '/v1/ledger/accounts', headers: finance });
  t.equal(accounts.statusCode, 200, accounts.body);
});
