/**
 * Earnings limits applied when money is paid (docs/design.md "Money counts when it is received";
 * docs/api-guide.md "Money and dates"): the worked example from the issue through the HTTP API, a decliner's
 * expenses, UK-date edges, and a model-based property through the services.
 */
import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import t from 'tap';
import { queryRows } from '../src/db/client.js';
import type { Actor, Principal } from '../src/domain/actor.js';
import { addDays } from '../src/domain/earnings-period.js';
import { limitOn, periodOf } from '../src/domain/earnings-limit.js';
import type { EarningsLimitPolicy } from '../src/domain/enums.js';
import { londonDate } from '../src/domain/uk-time.js';
import { createBudget } from '../src/modules/budgets/service.js';
import { addLimitVersion, loadLimitVersions } from '../src/modules/contributors/earnings-limits.js';
import { createContributor } from '../src/modules/contributors/service.js';
import { createOrganisation } from '../src/modules/organisations/service.js';
import { approvePayoutRun, draftPayoutRun, markItemPaid } from '../src/modules/payouts/service.js';
import { createProject } from '../src/modules/projects/service.js';
import { addRateCardVersion, createRateCard } from '../src/modules/rate-cards/service.js';
import { approveTimeEntry, submitTimeEntry } from '../src/modules/time-entries/service.js';
import { appOnClock, checkedCall, createTestOrg, json, uniqueEmail } from './helpers/app.js';
import { fundedBudget } from './helpers/fixtures.js';
import { WebClient } from './helpers/web.js';
import { ledgerInvariants } from './helpers/invariants.js';

const { app, at, now } = await appOnClock(t, '2026-06-01T09:00:00Z');

t.test('£390 in June and £390 in July under a £400 monthly limit from the 10th: held, split and warned as each policy says', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const finance2 = await org.as('finance');
  const coordinator = await org.as('coordinator');
  const call = checkedCall(t, app);

  at('2026-06-01T09:00:00Z');
  const people: Record<EarningsLimitPolicy, string> = { block: '', split: '', warn: '' };
  for (const policy of ['block', 'split', 'warn'] as const) {
    const person = await call('POST', '/v1/contributors', coordinator, {
      name: `On Universal Credit (${policy})`,
      kind: 'lived_experience',
      paymentMethod: 'bank_transfer',
      earningsLimit: { period: 'month', amount: 40_000, periodStartDay: 10, policy },
    });
    people[policy] = person.id;
  }

  // Both pieces of work fit their own month; approval no longer refuses, it forecasts.
  at('2026-07-16T09:00:00Z');
  for (const contributorId of Object.values(people)) {
    for (const date of ['2026-06-12', '2026-07-15']) {
      const entry = await call('POST', '/v1/time-entries', coordinator, { contributorId, budgetId, activity: 'meeting', date, minutes: 1170 });
      t.equal(entry.quote.amount, 39_000, '19.5 hours at £20 = £390');
      const approved = await call('POST', `/v1/time-entries/${entry.id}/approve`, coordinator, undefined, 200);
      t.equal(approved.amount, 39_000, 'the whole amount is owed');
      t.equal(approved.withheld, 0);
      if (date === '2026-07-15') t.match(approved.warnings.join(' '), /£780\.00 of earnings would be owed, but only £400\.00/, 'the forecast names the period');
    }
  }

  // The run on 20 July pays into the period 10 July – 9 August.
  at('2026-07-20T09:00:00Z');
  const run = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: Object.values(people) });
  const item = (id: string) => run.items.find((i: { contributorId: string }) => i.contributorId === id);
  t.same(
    [item(people.block).earnings, item(people.block).carriedForward],
    [39_000, 0],
    'block pays the older £390 whole and holds the newer',
  );
  t.match(run.skipped, [{ contributorId: people.block, reason: 'earnings_limit', amount: 39_000, headroom: 40_000, payableFrom: '2026-08-10' }]);
  t.same([item(people.split).earnings, item(people.split).carriedForward], [40_000, 38_000], 'split pays up to £400 and carries £380');
  t.equal(item(people.warn).earnings, 78_000, 'warn pays it all');
  t.match(item(people.warn).warnings[0], /£380\.00 more than the monthly earnings limit of £400\.00 for 2026-07-10 to 2026-08-09/);
  t.ok(run.items.every((i: { paymentDate: string }) => i.paymentDate === '2026-07-20'), 'the payment date is the UK date of the run');

  const approved = await call('POST', `/v1/payout-runs/${run.id}/approve`, finance2, undefined, 200);
  for (const i of approved.items) await call('POST', `/v1/payouts/${i.id}/mark-paid`, finance, { reference: `BACS-${i.id.slice(0, 8)}` }, 200);
  const owed = async (id: string) => (await call('GET', `/v1/contributors/${id}/balance`, finance)).balances[0].earnings.owed;
  t.same([await owed(people.block), await owed(people.split), await owed(people.warn)], [39_000, 38_000, 0], 'held and carried money is still owed, not lost');

  // The participant and finance see why money is held, and when it will come.
  const position = (await call('GET', `/v1/contributors/${people.block}/balance`, finance)).earningsLimit;
  t.match(position, { period: 'month', amount: 40_000, policy: 'block', from: '2026-07-10', to: '2026-08-09', earningsCounted: 39_000, headroom: 1_000, owedOverHeadroom: 38_000, heldIfPaidToday: 39_000, payableFrom: '2026-08-10' });
  const participant = new WebClient(app).withToken(await org.tokenFor('participant', { contributorId: people.block }));
  const home = (await participant.get('/my')).body;
  t.match(home, /To protect your benefits, £390\.00 of what you are owed is being kept back/, 'block keeps back the whole piece of work');
  t.match(home, /It will be paid from 10 August 2026/);
  const financePages = new WebClient(app).withToken(await org.tokenFor('finance'));

  // Later in the same period nothing more can be paid under block or split.
  at('2026-08-09T20:00:00Z');
  const samePeriod = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: [people.block, people.split] });
  t.same(samePeriod.items, [], 'no item: the period has no headroom left that the held work fits');
  t.match(samePeriod.skipped, [
    { contributorId: people.block, reason: 'earnings_limit', amount: 39_000, headroom: 1_000, payableFrom: '2026-08-10' },
    { contributorId: people.split, reason: 'earnings_limit', amount: 38_000, headroom: 0, payableFrom: '2026-08-10' },
  ]);
  const runPage = (await financePages.get(`/finance/runs/${samePeriod.id}`)).body;
  t.match(runPage, /Earnings limits shape this run/, 'finance is warned before approving');
  t.match(runPage, /held to keep them within their earnings limit/);
  t.match(runPage, /it can be paid from 10 August 2026/);
  await call('POST', `/v1/payout-runs/${samePeriod.id}/cancel`, finance, undefined, 200);

  // The next period's run pays what was held and carried.
  at('2026-08-10T08:00:00Z');
  const next = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: [people.block, people.split] });
  const nextItem = (id: string) => next.items.find((i: { contributorId: string }) => i.contributorId === id);
  t.equal(nextItem(people.block).earnings, 39_000, 'block pays the held £390');
  t.equal(nextItem(people.split).earnings, 38_000, 'split pays the carried £380');
  t.same(next.skipped, []);
  const nextApproved = await call('POST', `/v1/payout-runs/${next.id}/approve`, finance2, undefined, 200);
  for (const i of nextApproved.items) await call('POST', `/v1/payouts/${i.id}/mark-paid`, finance, { reference: `BACS-${i.id.slice(0, 8)}` }, 200);
  t.same([await owed(people.block), await owed(people.split)], [0, 0], 'everything approved is paid in the end');

  // A reversal is refused once any part of an entry's money has left.
  const entries = await call('GET', `/v1/time-entries?contributorId=${people.split}`, finance);
  for (const entry of entries.data) {
    const res = await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/reverse`, headers: coordinator, payload: { reason: 'test' } });
    t.equal(res.statusCode, 409, res.body);
    t.equal(json(res).code, 'already_paid');
  }
  const invariants = await ledgerInvariants(app.db, org.organisationId);
  t.same(invariants.trialBalance.map((r) => r.total), ['0'], 'the trial balance is zero');
});

t.test('approval checks the limit again for its own date', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const finance2 = await org.as('finance');
  const coordinator = await org.as('coordinator');
  at('2026-03-01T09:00:00Z');
  const person = json(
    await app.inject({
      method: 'POST',
      url: '/v1/contributors',
      headers: coordinator,
      payload: { name: 'Sam', kind: 'lived_experience', paymentMethod: 'voucher', earningsLimit: { period: 'week', amount: 10_000, periodStartDay: 1, policy: 'block' } },
    }),
  );
  for (const date of ['2026-03-02', '2026-03-03']) {
    const entry = json(await app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId: person.id, budgetId, activity: 'meeting', date, minutes: 240 } }));
    await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator });
  }
  // Two drafts in the same week each plan £80 of the £100; the second to be approved must not pass it.
  at('2026-03-04T09:00:00Z');
  const first = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  const second = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  t.equal(first.items[0].earnings, 8_000);
  t.equal(second.items[0].earnings, 8_000);
  t.equal((await app.inject({ method: 'POST', url: `/v1/payout-runs/${first.id}/approve`, headers: finance2 })).statusCode, 200);
  const refused = await app.inject({ method: 'POST', url: `/v1/payout-runs/${second.id}/approve`, headers: finance2 });
  t.equal(refused.statusCode, 409, refused.body);
  t.match(json(refused).detail, /earnings limit/);
});

/** A new organisation, its coordinator, and a contributor (`person`, as POSTed) with one entry of `minutes` on `date`, recorded but not approved. */
async function contributorWithEntry(person: object, date: string, minutes: number) {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const contributor = json(await app.inject({ method: 'POST', url: '/v1/contributors', headers: coordinator, payload: person }));
  const entry = json(await app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId: contributor.id, budgetId, activity: 'meeting', date, minutes } }));
  return { org, finance, budgetId, coordinator, person: contributor, entry };
}

t.test('someone who declined payment is still repaid their expenses, and their time owes nothing', async (t) => {
  at('2026-05-01T09:00:00Z');
  const { finance, budgetId, coordinator, person, entry } = await contributorWithEntry({ name: 'Jo', kind: 'carer', paymentMethod: 'declined' }, '2026-04-30', 120);
  t.equal(json(await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator })).amount, 0);
  for (const [category, amount] of [['travel', 1_250], ['childcare', 3_000]] as const) {
    const expense = json(await app.inject({ method: 'POST', url: '/v1/expenses', headers: coordinator, payload: { contributorId: person.id, budgetId, category, amount, date: '2026-04-30' } }));
    t.equal((await app.inject({ method: 'POST', url: `/v1/expenses/${expense.id}/approve`, headers: coordinator })).statusCode, 200);
  }
  const run = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP', contributorIds: [person.id] } }));
  t.match(run.items, [{ contributorId: person.id, amount: 4_250, earnings: 0, expenses: 4_250, method: 'bank_transfer' }], 'travel and childcare repaid');
  t.same(run.skipped, []);
});

t.test('the payment date is the UK date: 23:30 UTC on 5 April is 6 April, in the new tax year', async (t) => {
  at('2026-03-01T09:00:00Z');
  const { finance, coordinator, entry } = await contributorWithEntry({ name: 'Ana', kind: 'lived_experience', paymentMethod: 'voucher' }, '2026-04-01', 60);
  await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator });
  at('2026-04-05T23:30:00Z');
  const late = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  t.equal(late.items[0].paymentDate, '2026-04-06');
  await app.inject({ method: 'POST', url: `/v1/payout-runs/${late.id}/cancel`, headers: finance });
  at('2026-04-05T22:59:00Z');
  const early = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  t.equal(early.items[0].paymentDate, '2026-04-05');
});

t.test("a contributor's minutes on one date never pass 24 hours", async (t) => {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  at('2026-05-01T09:00:00Z');
  const person = json(await app.inject({ method: 'POST', url: '/v1/contributors', headers: coordinator, payload: { name: 'Kai', kind: 'lived_experience', paymentMethod: 'voucher' } }));
  const record = (minutes: number, date = '2026-04-20') =>
    app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId: person.id, budgetId, activity: 'meeting', date, minutes } });
  t.equal((await record(1000)).statusCode, 201);
  const rejected = json(await record(400));
  t.equal((await app.inject({ method: 'POST', url: `/v1/time-entries/${rejected.id}/reject`, headers: coordinator, payload: { reason: 'duplicate' } })).statusCode, 200);
  t.equal((await record(440)).statusCode, 201, 'exactly 1,440 minutes fits (a rejected entry does not count)');
  const over = await record(1);
  t.equal(over.statusCode, 422, over.body);
  t.equal(json(over).code, 'day_minutes_exceeded');
  t.equal((await record(1, '2026-04-21')).statusCode, 201, 'the next day is a new day');
  const session = await app.inject({ method: 'POST', url: '/v1/sessions', headers: coordinator, payload: { budgetId, activity: 'meeting', date: '2026-04-20', minutes: 30, attendees: [person.id] } });
  t.equal(session.statusCode, 422, 'a session is refused too, all or nothing');
});

// ---------------------------------------------------------------------------------------------
// Property: random approvals, runs, limit changes and the passing of time.

type Op =
  | { op: 'approve'; who: number; minutes: number }
  | { op: 'run' }
  | { op: 'wait'; days: number; hour: number }
  | { op: 'limit'; who: number; period: 'week' | 'month'; amount: number; startDay: number; policy: EarningsLimitPolicy | 'none' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('approve' as const), who: fc.nat(2), minutes: fc.integer({ min: 1, max: 1440 }) }) },
  { weight: 3, arbitrary: fc.constant({ op: 'run' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('wait' as const), days: fc.integer({ min: 1, max: 40 }), hour: fc.nat(23) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('limit' as const),
      who: fc.nat(2),
      period: fc.constantFrom('week' as const, 'month' as const),
      amount: fc.integer({ min: 1_000, max: 100_000 }),
      startDay: fc.integer({ min: 1, max: 31 }),
      policy: fc.constantFrom('block' as const, 'split' as const, 'warn' as const, 'none' as const),
    }),
  },
);

const startDayFor = (period: 'week' | 'month', day: number) => (period === 'week' ? ((day - 1) % 7) + 1 : day);

t.test('property: under block and split no period is paid past its limit, and nothing approved is lost', async (t) => {
  const admin: Actor = { type: 'system', id: 'property' };
  const finance1: Actor = { type: 'user', id: '00000000-0000-7000-8000-000000000001' };
  const finance2: Actor = { type: 'user', id: '00000000-0000-7000-8000-000000000002' };
  let checkedRuns = 0;

  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ period: fc.constantFrom('week' as const, 'month' as const), amount: fc.integer({ min: 1_000, max: 100_000 }), startDay: fc.integer({ min: 1, max: 31 }), policy: fc.constantFrom('block' as const, 'split' as const, 'warn' as const) }), { minLength: 3, maxLength: 3 }),
      fc.array(opArb, { minLength: 5, maxLength: 25 }),
      async (limits, ops) => {
        at('2026-01-05T10:00:00Z');
        const { organisationId } = await createOrganisation(app.db, { name: 'Limits property', adminEmail: uniqueEmail('limits'), adminPassword: 'correct horse battery staple' }, admin);
        const project = await createProject(app.db, organisationId, admin, { name: 'Panel' });
        const card = await createRateCard(app.db, organisationId, admin, { name: 'Rates', currency: 'GBP' });
        // £60 an hour, paid by the minute: every minute is £1.
        await addRateCardVersion(app.db, organisationId, admin, card.id, {
          effectiveFrom: '2020-01-01',
          rates: [{ activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: 6_000, roundToMinutes: 1 }],
        });
        const budget = await createBudget(app.db, organisationId, admin, {
          projectId: project.id,
          name: 'Grant',
          funder: 'Funder',
          grantReference: 'G-1',
          currency: 'GBP',
          amount: 1_000_000_000,
          startsOn: '2020-01-01',
          endsOn: '2030-12-31',
          rateCardId: card.id,
        });
        const people: string[] = [];
        for (const limit of limits) {
          const person = await createContributor(
            app.db,
            organisationId,
            admin,
            {
              name: 'Someone',
              kind: 'lived_experience',
              paymentMethod: 'voucher',
              earningsLimit: { period: limit.period, amount: limit.amount, periodStartDay: startDayFor(limit.period, limit.startDay), policy: limit.policy },
            },
            now(),
          );
          people.push(person.id);
        }
        const coordinator: Principal = { organisationId, role: 'coordinator', userId: null, apiTokenId: null, contributorId: null };
        let workDay = 0;

        for (const op of ops) {
          if (op.op === 'wait') {
            at(new Date(now().getTime() + op.days * 86_400_000 + op.hour * 3_600_000));
          } else if (op.op === 'limit') {
            const input =
              op.policy === 'none'
                ? { effectiveFrom: londonDate(now()), amount: null }
                : { effectiveFrom: londonDate(now()), period: op.period, amount: op.amount, periodStartDay: startDayFor(op.period, op.startDay), policy: op.policy };
            await addLimitVersion(app.db, organisationId, admin, people[op.who]!, input);
          } else if (op.op === 'approve') {
            const date = addDays('2025-01-01', workDay++);
            const entry = await submitTimeEntry(app.db, organisationId, admin, { contributorId: people[op.who]!, budgetId: budget.id, activity: 'meeting', date, minutes: op.minutes }, now());
            await approveTimeEntry(app.db, { organisationId, principal: coordinator, actor: admin, now: now() }, entry.id);
          } else {
            const run = await draftPayoutRun(app.db, organisationId, finance1, { currency: 'GBP' }, now());
            const approved = await approvePayoutRun(app.db, organisationId, finance2, run.id, now(), false);
            for (const item of approved.items) await markItemPaid(app.db, organisationId, finance1, item.id, 'voucher', now());
            // Each item that paid earnings under block or split fits its period's limit.
            const versions = await loadLimitVersions(app.db, organisationId, people);
            for (const item of approved.items.filter((i) => i.earnings > 0)) {
              const limit = limitOn(versions.get(item.contributorId) ?? [], item.paymentDate!);
              if (!limit || limit.policy === 'warn') continue;
              const period = periodOf(limit, item.paymentDate!);
              const [row] = await queryRows<{ total: string }>(app.db, sql`
                select coalesce(sum(earnings), 0) as total from payout_items
                 where organisation_id = ${organisationId} and contributor_id = ${item.contributorId}
                   and status in ('processing', 'paid') and payment_date between ${period.start} and ${period.end}`);
              if (Number(row!.total) > limit.amount) {
                throw new Error(`paid ${row!.total} in ${period.start}..${period.end}, past the ${limit.policy} limit of ${limit.amount}`);
              }
              checkedRuns++;
            }
          }

          // Nothing is lost: for each person, owed + in transit + paid = approved.
          const balances = await queryRows<{ contributor_id: string; approved: string; ledger: string; allocated: string }>(app.db, sql`
            select c.id as contributor_id,
                   (select coalesce(sum(amount), 0) from time_entries w where w.organisation_id = c.organisation_id and w.contributor_id = c.id and w.status = 'approved') as approved,
                   (select coalesce(sum(balance), 0) from ledger_accounts a where a.organisation_id = c.organisation_id and a.contributor_id = c.id and a.component = 'earnings') as ledger,
                   (select coalesce(sum(a.amount), 0) from payout_item_work a join payout_items i on i.organisation_id = a.organisation_id and i.id = a.item_id
                     where a.organisation_id = c.organisation_id and i.contributor_id = c.id and i.status in ('processing', 'paid')) as allocated
              from contributors c where c.organisation_id = ${organisationId}`);
          const paidLedger = await queryRows<{ contributor_id: string; total: string }>(app.db, sql`
            select contributor_id, coalesce(sum(balance), 0) as total from ledger_accounts
             where organisation_id = ${organisationId} and component = 'earnings' and type in ('contributor_in_transit', 'contributor_paid')
             group by contributor_id`);
          for (const b of balances) {
            if (b.approved !== b.ledger) throw new Error(`${op.op}: approved ${b.approved} but owed + in transit + paid = ${b.ledger}`);
            const left = paidLedger.find((p) => p.contributor_id === b.contributor_id)?.total ?? '0';
            if (Number(b.allocated) !== Number(left)) throw new Error(`${op.op}: ${b.allocated} allocated to work but ${left} has left`);
          }
          const invariants = await ledgerInvariants(app.db, organisationId);
          if (invariants.unbalancedTransactions.length || invariants.staleBalances.length || invariants.negativeBalances.length) {
            throw new Error(`${op.op}: ledger invariants broken: ${JSON.stringify(invariants)}`);
          }
        }
      },
    ),
    {
      numRuns: Number(process.env.FC_RUNS ?? 25),
      seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined,
      // Always also run one case that pays under each capping policy, so the check is exercised.
      examples: [
        [
          [
            { period: 'month', amount: 50_000, startDay: 31, policy: 'block' },
            { period: 'week', amount: 20_000, startDay: 3, policy: 'split' },
            { period: 'month', amount: 10_000, startDay: 15, policy: 'warn' },
          ],
          [
            { op: 'approve', who: 0, minutes: 300 },
            { op: 'approve', who: 0, minutes: 300 },
            { op: 'approve', who: 1, minutes: 150 },
            { op: 'approve', who: 1, minutes: 150 },
            { op: 'approve', who: 2, minutes: 200 },
            { op: 'run' },
            { op: 'wait', days: 31, hour: 0 },
            { op: 'run' },
          ],
        ],
      ],
    },
  );
  t.ok(checkedRuns > 0, `limits were checked on ${checkedRuns} paid items`);
});
