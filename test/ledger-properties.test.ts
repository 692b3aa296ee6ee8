/**
 * Model-based random tests of the ledger (docs/design.md "The ledger", invariants 1, 3, 4, 5 and 7),
 * run against the real database through the service layer.
 *
 * fast-check generates sequences of operations — create a budget, adjust it, approve money to a
 * contributor, pay it out, confirm or fail the payment, reverse an earlier transaction — with
 * amounts that mostly fit and sometimes do not. A plain in-memory model predicts each outcome;
 * after EVERY operation the test checks, in SQL, that every transaction balances per currency,
 * the trial balance is zero, each cached balance is the sum of its postings, no account that may
 * not go negative is below zero, and that the database agrees with the model. A rejected
 * operation must leave the organisation's ledger byte-identical.
 *
 * On failure fast-check prints the seed and the shrunk sequence; rerun it with FC_SEED=<seed>
 * (and FC_PATH=<path>) to replay exactly that case.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sql, type SQL } from 'drizzle-orm';
import t from 'tap';
import type { Db } from '../src/db/client.js';
import { inTransaction } from '../src/db/tx.js';
import { budgetAvailableAccount, contributorAccount, fundingAccount, transfer, type AccountRef, type ContributorBucket } from '../src/domain/ledger.js';
import type { Component } from '../src/domain/enums.js';
import { AppError } from '../src/errors.js';
import { systemActor } from '../src/domain/actor.js';
import { adjustBudget, createBudget } from '../src/modules/budgets/service.js';
import { createContributor } from '../src/modules/contributors/service.js';
import { postTransaction, reverseTransaction } from '../src/modules/ledger/service.js';
import { createOrganisation } from '../src/modules/organisations/service.js';
import { createProject } from '../src/modules/projects/service.js';
import { createRateCard } from '../src/modules/rate-cards/service.js';
import { buildTestApp, uniqueEmail } from './helpers/app.js';
import { testDatabase } from './helpers/database.js';

const app = await buildTestApp();
t.teardown(async () => {
  await app.close();
  await (await testDatabase()).close();
});

const actor = systemActor('ledger-properties');
const CURRENCY = 'GBP';
const DATE = '2026-05-01';

// ---------------------------------------------------------------------------------------------
// Operations

/** How much to move, relative to what the source account holds when the operation runs. */
type AmountSpec =
  | { kind: 'fit'; permille: number } // a share of the source balance (at least 1)
  | { kind: 'exceed'; extra: number } // more than the source holds
  | { kind: 'raw'; amount: number }; // any amount

interface Target {
  budget: number;
  contributor: number;
  component: Component;
  /** Prefer a (contributor, component, budget) whose source account holds money. */
  funded: boolean;
  pick: number;
}

type Op =
  | { op: 'createBudget'; amount: number; allowOverspend: boolean }
  | { op: 'adjust'; budget: number; sign: 1 | -1; amount: AmountSpec }
  | ({ op: 'approve' | 'payOut' | 'confirmPaid' | 'fail'; amount: AmountSpec } & Target)
  | { op: 'reverse'; pick: number };

const amountSpec: fc.Arbitrary<AmountSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('fit' as const), permille: fc.integer({ min: 1, max: 1000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('exceed' as const), extra: fc.integer({ min: 1, max: 5000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('raw' as const), amount: fc.integer({ min: 1, max: 200_000 }) }) },
);

const target = {
  budget: fc.nat({ max: 7 }),
  contributor: fc.nat({ max: 7 }),
  component: fc.constantFrom<Component>('earnings', 'expenses'),
  funded: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  pick: fc.nat({ max: 63 }),
};

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('createBudget' as const),
      amount: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 500_000 })),
      allowOverspend: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('adjust' as const), budget: fc.nat({ max: 7 }), sign: fc.constantFrom<1 | -1>(1, -1), amount: amountSpec }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('approve' as const), amount: amountSpec, ...target }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('payOut' as const), amount: amountSpec, ...target }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('confirmPaid' as const), amount: amountSpec, ...target }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fail' as const), amount: amountSpec, ...target }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reverse' as const), pick: fc.nat({ max: 63 }) }) },
);

/** Every sequence starts with a budget, so the other operations have one to work on. */
const sequenceArb = fc
  .tuple(
    fc.record({ op: fc.constant('createBudget' as const), amount: fc.integer({ min: 1, max: 500_000 }), allowOverspend: fc.boolean() }),
    fc.array(opArb, { maxLength: 29, size: 'max' }),
  )
  .map(([first, rest]): Op[] => [first, ...rest]);

// ---------------------------------------------------------------------------------------------
// The model

interface ModelTransaction {
  id: string;
  postings: Array<{ account: AccountRef; amount: number }>;
}

class Model {
  budgets: Array<{ id: string; allowOverspend: boolean }> = [];
  readonly balances = new Map<string, number>();
  readonly allowNegative = new Map<string, boolean>();
  readonly transactions: ModelTransaction[] = [];
  readonly reversed = new Set<string>();
  postings = 0;

  constructor(readonly contributors: string[]) {}

  balance(account: AccountRef): number {
    return this.balances.get(account.code) ?? 0;
  }

  /** Would these postings keep every account that may not go negative at or above zero? */
  fits(postings: ReadonlyArray<{ account: AccountRef; amount: number }>): boolean {
    const after = new Map<string, number>();
    for (const p of postings) after.set(p.account.code, (after.get(p.account.code) ?? this.balance(p.account)) + p.amount);
    return postings.every((p) => p.account.allowNegative || (after.get(p.account.code) ?? 0) >= 0);
  }

  touch(account: AccountRef): void {
    if (!this.balances.has(account.code)) this.balances.set(account.code, 0);
    this.allowNegative.set(account.code, account.allowNegative);
  }

  apply(id: string, postings: Array<{ account: AccountRef; amount: number }>): void {
    for (const p of postings) {
      this.touch(p.account);
      this.balances.set(p.account.code, this.balance(p.account) + p.amount);
    }
    this.transactions.push({ id, postings });
    this.postings += postings.length;
  }
}

function resolveAmount(spec: AmountSpec, sourceBalance: number): number {
  const base = Math.max(0, sourceBalance);
  switch (spec.kind) {
    case 'fit':
      return Math.max(1, Math.floor((base * spec.permille) / 1000));
    case 'exceed':
      return base + spec.extra;
    case 'raw':
      return spec.amount;
  }
}

const flow: Record<'approve' | 'payOut' | 'confirmPaid' | 'fail', { from: ContributorBucket | 'budget'; to: ContributorBucket }> = {
  approve: { from: 'budget', to: 'owed' },
  payOut: { from: 'owed', to: 'in_transit' },
  confirmPaid: { from: 'in_transit', to: 'paid' },
  fail: { from: 'in_transit', to: 'owed' },
};

// ---------------------------------------------------------------------------------------------
// SQL checks

async function rows<T>(query: SQL): Promise<T[]> {
  const result = (await app.db.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

/** Everything of the organisation's ledger a rejected operation must leave as it was. */
async function snapshot(organisationId: string): Promise<string> {
  const [row] = await rows<Record<string, unknown>>(sql`
    select (select coalesce(json_agg(a order by a.code, a.currency), '[]')
              from (select code, currency, type, allow_negative, balance::text as balance
                      from ledger_accounts where organisation_id = ${organisationId}) a) as accounts,
           (select count(*) from ledger_transactions where organisation_id = ${organisationId})::int as transactions,
           (select count(*) from ledger_postings where organisation_id = ${organisationId})::int as postings,
           (select count(*) from audit_events where organisation_id = ${organisationId})::int as audit_events,
           (select count(*) from budgets where organisation_id = ${organisationId})::int as budgets`);
  return JSON.stringify(row);
}

interface LedgerState {
  unbalanced: unknown[];
  trial: Array<{ currency: string; total: string }>;
  stale: unknown[];
  negative: unknown[];
  accounts: Array<{ code: string; balance: string; allow_negative: boolean }>;
  transactions: number;
  postings: number;
}

/** The invariants, each its own SQL, read in one round trip (it runs after every operation). */
async function checkInvariants(organisationId: string, model: Model, label: string): Promise<void> {
  const [state] = await rows<LedgerState>(sql`
    select
      -- 1. every transaction balances per currency
      (select coalesce(json_agg(u), '[]') from (
         select transaction_id, currency, sum(amount)::text as total
           from ledger_postings where organisation_id = ${organisationId}
          group by transaction_id, currency having sum(amount) <> 0) u) as unbalanced,
      -- 4. the trial balance per currency
      (select coalesce(json_agg(tb), '[]') from (
         select currency, sum(amount)::text as total
           from ledger_postings where organisation_id = ${organisationId} group by currency) tb) as trial,
      -- 3. every cached balance is the sum of its postings
      (select coalesce(json_agg(st), '[]') from (
         select a.code, a.currency, a.balance::text as cached, coalesce(sum(p.amount), 0)::text as posted
           from ledger_accounts a
           left join ledger_postings p
             on p.organisation_id = a.organisation_id and p.account = a.code and p.currency = a.currency
          where a.organisation_id = ${organisationId}
          group by a.code, a.currency, a.balance
         having a.balance <> coalesce(sum(p.amount), 0)) st) as stale,
      -- 5. no account that may not go negative is below zero
      (select coalesce(json_agg(n), '[]') from (
         select code, balance::text as balance from ledger_accounts
          where organisation_id = ${organisationId} and not allow_negative and balance < 0) n) as negative,
      (select coalesce(json_agg(a), '[]') from (
         select code, balance::text as balance, allow_negative
           from ledger_accounts where organisation_id = ${organisationId}) a) as accounts,
      (select count(*) from ledger_transactions where organisation_id = ${organisationId})::int as transactions,
      (select count(*) from ledger_postings where organisation_id = ${organisationId})::int as postings`);
  assert.ok(state, `${label}: the ledger state could be read`);
  assert.deepEqual(state.unbalanced, [], `${label}: every transaction balances per currency`);
  for (const row of state.trial) assert.equal(row.total, '0', `${label}: trial balance in ${row.currency} is zero`);
  assert.deepEqual(state.stale, [], `${label}: every cached balance is the sum of its postings`);
  assert.deepEqual(state.negative, [], `${label}: no account that may not go negative is below zero`);

  // The database agrees with the model, account by account, and row for row.
  const fromDb = Object.fromEntries(state.accounts.map((r) => [r.code, [Number(r.balance), r.allow_negative]]));
  const fromModel = Object.fromEntries([...model.balances].map(([code, balance]) => [code, [balance, model.allowNegative.get(code)]]));
  assert.deepEqual(fromDb, fromModel, `${label}: balances match the model`);
  assert.deepEqual(
    { transactions: state.transactions, postings: state.postings },
    { transactions: model.transactions.length, postings: model.postings },
    `${label}: row counts match the model`,
  );
}

// ---------------------------------------------------------------------------------------------
// Running a sequence

async function newWorld() {
  const { organisationId } = await createOrganisation(app.db, {
    name: 'Property test organisation',
    adminEmail: uniqueEmail('prop'),
    adminPassword: 'correct horse battery staple',
  });
  const project = await createProject(app.db, organisationId, actor, { name: 'Co-produced service review' });
  const card = await createRateCard(app.db, organisationId, actor, { name: 'Rates', currency: CURRENCY });
  const contributors: string[] = [];
  for (const kind of ['lived_experience', 'carer'] as const) {
    contributors.push((await createContributor(app.db, organisationId, actor, { name: `Contributor ${kind}`, kind, paymentMethod: 'bank_transfer' }, new Date())).id);
  }
  return { organisationId, projectId: project.id, rateCardId: card.id, model: new Model(contributors) };
}

interface Planned {
  /** What the model expects: a transaction's postings, or the error code it expects instead. */
  expect: { ok: true; postings: Array<{ account: AccountRef; amount: number }> } | { ok: false; code: string };
  describe: string;
  /** For a reversal: the transaction it reverses. */
  reverses?: string;
  run: (tx: Db) => Promise<string | null>;
}

async function transactionIdOf(organisationId: string, budgetId: string): Promise<string> {
  const [row] = await rows<{ id: string }>(sql`
    select id from ledger_transactions
     where organisation_id = ${organisationId} and type = 'budget_funding' and reference_type = 'budget' and reference_id = ${budgetId}`);
  assert.ok(row, `the funding transaction of budget ${budgetId} exists`);
  return row.id;
}

function plan(world: Awaited<ReturnType<typeof newWorld>>, op: Op): Planned | null {
  const { organisationId, model } = world;
  switch (op.op) {
    case 'createBudget':
      // Handled in runOp: its id is not known until it exists.
      return null;
    case 'adjust': {
      const budget = model.budgets[op.budget % model.budgets.length]!;
      const account = budgetAvailableAccount(budget.id, budget.allowOverspend);
      const size = op.sign > 0 ? resolveAmount(op.amount, 0) : resolveAmount(op.amount, model.balance(account));
      const amount = op.sign * size;
      const ok = amount > 0 || model.balance(account) + amount >= 0;
      const postings = amount > 0 ? transfer(fundingAccount(), account, amount) : transfer(account, fundingAccount(), -amount);
      return {
        expect: ok ? { ok: true, postings } : { ok: false, code: 'budget_below_committed' },
        describe: `adjust budget ${budget.id} by ${amount} (available ${model.balance(account)})`,
        run: async (tx) => (await adjustBudget(tx, organisationId, actor, budget.id, { amount, reason: 'property test' }, DATE)).adjustment.transactionId,
      };
    }
    case 'approve':
    case 'payOut':
    case 'confirmPaid':
    case 'fail': {
      const { from, to } = flow[op.op];
      const combos: Array<{ source: AccountRef; sink: AccountRef }> = [];
      for (const budget of model.budgets) {
        for (const contributor of model.contributors) {
          for (const component of ['earnings', 'expenses'] as const) {
            combos.push({
              source: from === 'budget' ? budgetAvailableAccount(budget.id, budget.allowOverspend) : contributorAccount(contributor, from, component, budget.id),
              sink: contributorAccount(contributor, to, component, budget.id),
            });
          }
        }
      }
      const funded = combos.filter((c) => model.balance(c.source) > 0);
      let choice: { source: AccountRef; sink: AccountRef };
      if (op.funded && funded.length) {
        choice = funded[op.pick % funded.length]!;
      } else {
        const budget = model.budgets[op.budget % model.budgets.length]!;
        const contributor = model.contributors[op.contributor % model.contributors.length]!;
        choice = {
          source: from === 'budget' ? budgetAvailableAccount(budget.id, budget.allowOverspend) : contributorAccount(contributor, from, op.component, budget.id),
          sink: contributorAccount(contributor, to, op.component, budget.id),
        };
      }
      const amount = resolveAmount(op.amount, model.balance(choice.source));
      const postings = transfer(choice.source, choice.sink, amount);
      return {
        expect: model.fits(postings) ? { ok: true, postings } : { ok: false, code: 'invalid_state' },
        describe: `${op.op} ${amount} from ${choice.source.code} (holding ${model.balance(choice.source)}) to ${choice.sink.code}`,
        run: (tx) =>
          postTransaction(tx, organisationId, {
            type: op.op,
            referenceType: 'property_test',
            referenceId: op.op,
            effectiveDate: DATE,
            currency: CURRENCY,
            createdBy: 'property-test',
            postings,
          }),
      };
    }
    case 'reverse': {
      if (model.transactions.length === 0) return null;
      const original = model.transactions[op.pick % model.transactions.length]!;
      const postings = original.postings.map((p) => ({ account: p.account, amount: -p.amount }));
      const ok = !model.reversed.has(original.id) && model.fits(postings);
      return {
        expect: ok ? { ok: true, postings } : { ok: false, code: 'invalid_state' },
        reverses: original.id,
        describe: `reverse ${original.id}${model.reversed.has(original.id) ? ' (already reversed)' : ''}: ${original.postings
          .map((p) => `${p.account.code} ${-p.amount} (holding ${model.balance(p.account)})`)
          .join(', ')}`,
        run: (tx) =>
          reverseTransaction(tx, organisationId, original.id, {
            type: 'reversal',
            referenceType: 'property_test',
            referenceId: original.id,
            effectiveDate: DATE,
            createdBy: 'property-test',
          }),
      };
    }
  }
}

async function runOp(world: Awaited<ReturnType<typeof newWorld>>, op: Op, step: number, log: string[]): Promise<'ok' | 'rejected' | 'skipped'> {
  const { organisationId, model } = world;
  if (op.op === 'createBudget') {
    const budget = await inTransaction(app.db, (tx) =>
      createBudget(tx, organisationId, actor, {
        projectId: world.projectId,
        name: `Budget ${model.budgets.length + 1}`,
        funder: 'Funder',
        grantReference: `G-${step}`,
        currency: CURRENCY,
        amount: op.amount,
        startsOn: '2026-04-01',
        endsOn: '2027-03-31',
        rateCardId: world.rateCardId,
        allowOverspend: op.allowOverspend,
      }),
    );
    const account = budgetAvailableAccount(budget.id, op.allowOverspend);
    model.budgets.push({ id: budget.id, allowOverspend: op.allowOverspend });
    model.touch(account);
    if (op.amount > 0) model.apply(await transactionIdOf(organisationId, budget.id), transfer(fundingAccount(), account, op.amount));
    log.push(`${step}: create budget ${budget.id} of ${op.amount}${op.allowOverspend ? ' (may overspend)' : ''}`);
    assert.equal(budget.available, op.amount, `step ${step}: a new budget's available is its amount`);
    return 'ok';
  }

  const planned = plan(world, op);
  if (!planned) return 'skipped';
  log.push(`${step}: ${planned.describe} → expect ${planned.expect.ok ? 'ok' : planned.expect.code}`);
  // Only a rejection must leave the ledger as it was; a surprise rejection fails below anyway.
  const before = planned.expect.ok ? null : await snapshot(organisationId);
  let outcome: { ok: true; id: string | null } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, id: await inTransaction(app.db, planned.run) };
  } catch (error) {
    outcome = { ok: false, error };
  }
  const context = `step ${step} (${planned.describe})\n${log.join('\n')}`;

  if (planned.expect.ok) {
    if (!outcome.ok) throw new Error(`${context}\nexpected success, got ${String((outcome.error as Error)?.stack ?? outcome.error)}`);
    assert.ok(outcome.id, `${context}\nreturns the transaction id`);
    model.apply(outcome.id, planned.expect.postings);
    if (planned.reverses) model.reversed.add(planned.reverses);
    return 'ok';
  }
  if (outcome.ok) throw new Error(`${context}\nexpected ${planned.expect.code}, but it succeeded`);
  assert.ok(outcome.error instanceof AppError, `${context}\nrefused with an AppError, not ${String((outcome.error as Error)?.stack ?? outcome.error)}`);
  assert.equal(outcome.error.code, planned.expect.code, `${context}\nrefused with ${planned.expect.code}: ${outcome.error.detail}`);
  assert.equal(await snapshot(organisationId), before, `${context}\na rejected operation leaves the ledger byte-identical`);
  return 'rejected';
}

t.test('random sequences of ledger operations keep every invariant after every step', async (t) => {
  const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
  const tally = { ok: 0, rejected: 0, skipped: 0, runs: 0 };
  await fc.assert(
    fc.asyncProperty(sequenceArb, async (ops) => {
      tally.runs++;
      const world = await newWorld();
      const log: string[] = [];
      for (const [step, op] of ops.entries()) {
        tally[await runOp(world, op, step, log)]++;
        await checkInvariants(world.organisationId, world.model, `after step ${step}\n${log.join('\n')}`);
      }
    }),
    { numRuns: 25, ...(seed === undefined ? {} : { seed, path: process.env.FC_PATH }) },
  );
  // A replay of one shrunk case (FC_PATH) runs it once.
  t.ok(tally.runs >= (process.env.FC_PATH ? 1 : 25), `ran ${tally.runs} sequences`);
  t.ok(tally.ok > 0 && tally.rejected > 0, `both accepted (${tally.ok}) and rejected (${tally.rejected}) operations were tried; ${tally.skipped} skipped`);
});

t.test('the model sees a reversal of a reversal as allowed, and a second reversal as refused', async (t) => {
  // A fixed sequence through the same machinery, so the interesting cases are always covered.
  const world = await newWorld();
  const log: string[] = [];
  const fixed: Op[] = [
    { op: 'createBudget', amount: 10_000, allowOverspend: false },
    { op: 'approve', budget: 0, contributor: 0, component: 'earnings', funded: false, pick: 0, amount: { kind: 'raw', amount: 4_000 } },
    { op: 'reverse', pick: 1 }, // the approval
    { op: 'reverse', pick: 1 }, // the approval again: refused
    { op: 'reverse', pick: 2 }, // the reversal: allowed, the approval is back in force
    { op: 'approve', budget: 0, contributor: 1, component: 'expenses', funded: false, pick: 0, amount: { kind: 'exceed', extra: 1 } },
    { op: 'payOut', budget: 0, contributor: 0, component: 'earnings', funded: false, pick: 0, amount: { kind: 'fit', permille: 1000 } },
    { op: 'reverse', pick: 1 }, // the approval once more: refused, already reversed
    { op: 'reverse', pick: 3 }, // the reversal of the reversal: owed is now in transit, so refused
    { op: 'fail', budget: 0, contributor: 0, component: 'earnings', funded: false, pick: 0, amount: { kind: 'fit', permille: 500 } },
    { op: 'confirmPaid', budget: 0, contributor: 0, component: 'earnings', funded: false, pick: 0, amount: { kind: 'fit', permille: 1000 } },
    { op: 'adjust', budget: 0, sign: -1, amount: { kind: 'exceed', extra: 1 } },
    { op: 'adjust', budget: 0, sign: -1, amount: { kind: 'fit', permille: 1000 } },
  ];
  const outcomes: string[] = [];
  for (const [step, op] of fixed.entries()) {
    outcomes.push(await runOp(world, op, step, log));
    await checkInvariants(world.organisationId, world.model, `after step ${step}\n${log.join('\n')}`);
  }
  const expected = ['ok', 'ok', 'ok', 'rejected', 'ok', 'rejected', 'ok', 'rejected', 'rejected', 'ok', 'ok', 'rejected', 'ok'];
  t.same(outcomes, expected, JSON.stringify(outcomes) === JSON.stringify(expected) ? 'each step went as the model predicts' : log.join('\n'));
  const budget = world.model.budgets[0]!;
  t.equal(world.model.balance(budgetAvailableAccount(budget.id, false)), 0, 'the rest of the budget was removed');
  t.equal(world.model.balance(contributorAccount(world.model.contributors[0]!, 'paid', 'earnings', budget.id)), 2_000);
  t.equal(world.model.balance(contributorAccount(world.model.contributors[0]!, 'owed', 'earnings', budget.id)), 2_000);
});
