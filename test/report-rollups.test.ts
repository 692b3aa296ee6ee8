/**
 * Report rollups (report_work_months, src/modules/reports/rollups.ts): a model-based property
 * through the services. Random approvals and reversals of time and expenses, payments paid and
 * failed, changes of a contributor's kind and work losing its recorded kind (as work approved
 * before kinds were recorded has none), over dates at Europe/London month edges; after every
 * step the rollup rows equal what the approved work says, the report's per-contributor lines
 * over random ranges, budgets and projects carry exactly the work figures the entries give, and
 * the distribution report is what summing those lines gives (it sums them in SQL).
 * Then approvals and reversals racing on one rollup row, and migration 0012 filling the rollups
 * on an upgrade from 0011 (on embedded PGlite).
 */
import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import t from 'tap';
import { queryRows } from '../src/db/client.js';
import type { Actor } from '../src/domain/actor.js';
import { contributorKinds, isLivedExperience, type ContributorKind } from '../src/domain/enums.js';
import { roundHalfUpDiv } from '../src/domain/money.js';
import { AppError } from '../src/errors.js';
import { reverseWork } from '../src/modules/approvable-work/lifecycle.js';
import { createBudget } from '../src/modules/budgets/service.js';
import { createContributor, updateContributor } from '../src/modules/contributors/service.js';
import { approveExpense, expenseWork, submitExpense } from '../src/modules/expenses/service.js';
import { createOrganisation } from '../src/modules/organisations/service.js';
import { approvePayoutRun, draftPayoutRun, markItemFailed, markItemPaid } from '../src/modules/payouts/service.js';
import { createProject } from '../src/modules/projects/service.js';
import { addRateCardVersion, createRateCard } from '../src/modules/rate-cards/service.js';
import { expectedRollupRows, rebuildRollups, rollupRows } from '../src/modules/reports/rollups.js';
import { distributionReport, linesByKind, type KindLine, type ReportFilter } from '../src/modules/reports/service.js';
import { approveTimeEntry, submitTimeEntry, timeEntryWork } from '../src/modules/time-entries/service.js';
import { appForThisFile, uniqueEmail } from './helpers/app.js';
import { carerAndBudget, coordinatorOf } from './helpers/service-fixtures.js';

let clock = new Date('2026-01-05T10:00:00Z');
const app = await appForThisFile(t, { now: () => clock });

/** Dates either side of month ends, a leap-year February and the clock changes (29 March, 25 October 2026). */
const DATES = [
  '2025-12-31', '2026-01-01', '2026-01-31', '2026-02-01', '2026-02-28', '2026-03-01', '2026-03-28', '2026-03-29',
  '2026-03-30', '2026-03-31', '2026-04-01', '2026-06-15', '2026-10-24', '2026-10-25', '2026-10-26', '2026-10-31',
  '2026-11-01', '2028-02-28', '2028-02-29', '2028-03-01',
];
const KINDS: ContributorKind[] = ['lived_experience', 'carer', 'professional'];

type Op =
  | { op: 'time'; who: number; date: string; minutes: number; budget: number; approve: boolean }
  | { op: 'expense'; who: number; date: string; amount: number; budget: number }
  | { op: 'reverse'; pick: number; expense: boolean }
  | { op: 'kind'; who: number; kind: ContributorKind }
  | { op: 'forget_kind'; pick: number }
  | { op: 'pay'; who: number; fail: boolean }
  | { op: 'wait'; days: number; hour: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('time' as const), who: fc.nat(3), date: fc.constantFrom(...DATES), minutes: fc.integer({ min: 1, max: 600 }), budget: fc.nat(2), approve: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('expense' as const), who: fc.nat(3), date: fc.constantFrom(...DATES), amount: fc.integer({ min: 1, max: 50_000 }), budget: fc.nat(2) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('reverse' as const), pick: fc.nat(), expense: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('kind' as const), who: fc.nat(3), kind: fc.constantFrom(...KINDS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('forget_kind' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pay' as const), who: fc.nat(3), fail: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('wait' as const), days: fc.integer({ min: 1, max: 40 }), hour: fc.nat(23) }) },
);

/** A report range: either end open, ends anywhere (month edges likely), possibly empty. */
const rangeArb = fc.record({
  from: fc.option(fc.constantFrom(...DATES, '2026-02-15', '2026-01-02'), { nil: undefined }),
  to: fc.option(fc.constantFrom(...DATES, '2026-02-15', '2026-03-30'), { nil: undefined }),
  scope: fc.constantFrom('all' as const, 'budget' as const, 'project' as const),
});

/** The work figures of a report's line, as the entries give them (money paid is not rolled up). */
type WorkLine = Omit<KindLine, 'paid' | 'expenses_paid'>;

/**
 * The work figures of each contributor and kind (the contributor's current kind where the work
 * recorded none) straight from the entries: approved work of every date in the filter's place,
 * summed over the range.
 */
async function fromEntries(organisationId: string, f: ReportFilter): Promise<Map<string, WorkLine>> {
  const place = (alias: string) => {
    const parts = [sql`${sql.raw(alias)}.organisation_id = ${organisationId}`, sql`${sql.raw(alias)}.status = 'approved'`, sql`${sql.raw(alias)}.currency = ${f.currency}`];
    if (f.budgetId) parts.push(sql`${sql.raw(alias)}.budget_id = ${f.budgetId}`);
    if (f.projectId) parts.push(sql`(select project_id from budgets b where b.organisation_id = ${sql.raw(alias)}.organisation_id and b.id = ${sql.raw(alias)}.budget_id) = ${f.projectId}`);
    return sql.join(parts, sql` and `);
  };
  const inRange = (alias: string) =>
    sql`(${f.from ?? null}::date is null or ${sql.raw(alias)}.date >= ${f.from ?? null}::date) and (${f.to ?? null}::date is null or ${sql.raw(alias)}.date <= ${f.to ?? null}::date)`;
  const rows = await queryRows<WorkLine>(
    app.db,
    sql`
    select x.contributor_id, coalesce(x.kind, c.kind) as kind,
           sum(x.minutes)::text as minutes, sum(x.paid_minutes)::text as paid_minutes, sum(x.earned)::text as earned,
           sum(x.in_kind)::text as in_kind, sum(x.declined)::text as declined, sum(x.expenses)::text as expenses
      from (
        select w.contributor_id, w.contributor_kind as kind,
               case when ${inRange('w')} then w.minutes else 0 end as minutes,
               case when ${inRange('w')} and not (w.in_kind or w.declined) then w.minutes else 0 end as paid_minutes,
               case when ${inRange('w')} then w.amount else 0 end as earned,
               case when ${inRange('w')} and w.in_kind then w.value else 0 end as in_kind,
               case when ${inRange('w')} and w.declined then w.value else 0 end as declined,
               0 as expenses
          from time_entries w where ${place('w')}
        union all
        select e.contributor_id, e.contributor_kind, 0, 0, 0, 0, 0, case when ${inRange('e')} then e.amount else 0 end
          from expenses e where ${place('e')}
      ) x
      join contributors c on c.organisation_id = ${organisationId} and c.id = x.contributor_id
     group by 1, 2`,
  );
  return new Map(rows.map((r) => [`${r.contributor_id}|${r.kind}`, r]));
}

const FIGURES = ['minutes', 'paid_minutes', 'earned', 'in_kind', 'declined', 'expenses'] as const;

/**
 * The distribution report summed from the lines in JavaScript, as the service did before it
 * summed them in SQL (f7f9868): each kind's figures and its contributors with any minutes,
 * expenses or money paid; each group's the same over its kinds, a person counted once however
 * many of the group's kinds they gave time as. The oracle for the report's SQL sums.
 */
function distributionFromLines(lines: KindLine[], filter: ReportFilter) {
  const totals = () => ({ ids: new Set<string>(), minutes: 0n, paidMinutes: 0n, earned: 0n, paid: 0n, expenses: 0n, expensesPaid: 0n, inKind: 0n, declined: 0n });
  type Totals = ReturnType<typeof totals>;
  const add = (into: Totals, line: KindLine) => {
    const [minutes, expenses, paid, expensesPaid] = [BigInt(line.minutes), BigInt(line.expenses), BigInt(line.paid), BigInt(line.expenses_paid)];
    if (minutes > 0n || expenses > 0n || paid > 0n || expensesPaid > 0n) into.ids.add(line.contributor_id);
    into.minutes += minutes;
    into.paidMinutes += BigInt(line.paid_minutes);
    into.earned += BigInt(line.earned);
    into.paid += paid;
    into.expenses += expenses;
    into.expensesPaid += expensesPaid;
    into.inKind += BigInt(line.in_kind);
    into.declined += BigInt(line.declined);
  };
  const group = (x: Totals) => ({
    contributors: x.ids.size,
    minutes: Number(x.minutes),
    earned: Number(x.earned),
    paid: Number(x.paid),
    expenses: Number(x.expenses),
    expensesPaid: Number(x.expensesPaid),
    inKindValue: Number(x.inKind),
    declinedValue: Number(x.declined),
    effectiveHourlyRate: x.paidMinutes > 0n ? Number(roundHalfUpDiv(x.earned * 60n, x.paidMinutes)) : 0,
  });
  const share = (part: bigint, whole: bigint) => (whole === 0n ? 0 : Number((part * 1_000_000n) / whole) / 1_000_000);
  const byKind = new Map(contributorKinds.map((kind) => [kind, totals()]));
  const [lived, professional] = [totals(), totals()];
  for (const line of lines) {
    add(byKind.get(line.kind)!, line);
    add(isLivedExperience(line.kind) ? lived : professional, line);
  }
  return {
    currency: filter.currency,
    filters: { projectId: filter.projectId ?? null, budgetId: filter.budgetId ?? null, from: filter.from ?? null, to: filter.to ?? null },
    groups: { livedExperience: group(lived), professional: group(professional) },
    byKind: contributorKinds.map((kind) => ({ kind, ...group(byKind.get(kind)!) })),
    livedExperienceShareOfMoney: share(lived.earned, lived.earned + professional.earned),
    livedExperienceShareOfHours: share(lived.minutes, lived.minutes + professional.minutes),
  };
}

t.test('property: the rollups equal the approved work after every step, and reports over any range count as the entries do', async (t) => {
  const admin: Actor = { type: 'system', id: 'rollups' };
  const finance1: Actor = { type: 'user', id: '00000000-0000-7000-8000-000000000011' };
  const finance2: Actor = { type: 'user', id: '00000000-0000-7000-8000-000000000012' };
  let steps = 0;
  let rangesChecked = 0;
  let reversed = 0;
  let paid = 0;
  /** Reports whose lived-experience group counted someone who gave time as both its kinds, once. */
  let someoneInTwoKinds = 0;

  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 4, maxLength: 18 }), fc.array(rangeArb, { minLength: 2, maxLength: 2 }), async (ops, ranges) => {
      clock = new Date('2026-01-05T10:00:00Z');
      const { organisationId } = await createOrganisation(app.db, { name: 'Rollups property', adminEmail: uniqueEmail('rollups'), adminPassword: 'correct horse battery staple' }, admin);
      const projects = [await createProject(app.db, organisationId, admin, { name: 'Panel' }), await createProject(app.db, organisationId, admin, { name: 'Board' })];
      const card = await createRateCard(app.db, organisationId, admin, { name: 'Rates', currency: 'GBP' });
      await addRateCardVersion(app.db, organisationId, admin, card.id, {
        effectiveFrom: '2020-01-01',
        rates: KINDS.map((contributorKind) => ({
          activity: 'meeting' as const,
          contributorKind,
          unit: 'hour' as const,
          amount: contributorKind === 'professional' ? 4_500 : 2_000,
          roundToMinutes: 1,
          ...(contributorKind === 'professional' ? { inKind: true } : {}),
        })),
      });
      const budgets: string[] = [];
      for (const [i, projectId] of [projects[0]!.id, projects[0]!.id, projects[1]!.id].entries()) {
        const budget = await createBudget(app.db, organisationId, admin, {
          projectId,
          name: `Grant ${i}`,
          funder: 'Funder',
          grantReference: `G-${i}`,
          currency: 'GBP',
          amount: 1_000_000_000,
          startsOn: '2020-01-01',
          endsOn: '2030-12-31',
          rateCardId: card.id,
        });
        budgets.push(budget.id);
      }
      const people: string[] = [];
      for (const [i, kind] of (['lived_experience', 'carer', 'professional', 'lived_experience'] as const).entries()) {
        const person = await createContributor(app.db, organisationId, admin, { name: `Someone ${i}`, kind, paymentMethod: i === 3 ? 'declined' : 'voucher' }, clock);
        people.push(person.id);
      }
      const coordinator = coordinatorOf(organisationId);
      const context = () => ({ organisationId, principal: coordinator, actor: admin, now: clock });
      const approvedIds = async (table: 'time_entries' | 'expenses') =>
        (await queryRows<{ id: string }>(app.db, sql`select id from ${sql.raw(table)} where organisation_id = ${organisationId} and status = 'approved' order by id`)).map((r) => r.id);

      for (const op of ops) {
        if (op.op === 'time') {
          const entry = await submitTimeEntry(app.db, organisationId, admin, { contributorId: people[op.who]!, budgetId: budgets[op.budget]!, activity: 'meeting', date: op.date, minutes: op.minutes }, clock);
          if (op.approve) await approveTimeEntry(app.db, context(), entry.id);
        } else if (op.op === 'expense') {
          const expense = await submitExpense(app.db, organisationId, admin, { contributorId: people[op.who]!, budgetId: budgets[op.budget]!, category: 'travel', amount: op.amount, date: op.date }, clock);
          await approveExpense(app.db, context(), expense.id);
        } else if (op.op === 'reverse') {
          const ids = await approvedIds(op.expense ? 'expenses' : 'time_entries');
          if (ids.length) {
            try {
              await reverseWork(app.db, (op.expense ? expenseWork : timeEntryWork) as never, context(), ids[op.pick % ids.length]!, 'recorded twice');
              reversed++;
            } catch (error) {
              if (!(error instanceof AppError && error.code === 'already_paid')) throw error;
            }
          }
        } else if (op.op === 'kind') {
          await updateContributor(app.db, organisationId, admin, people[op.who]!, { kind: op.kind }, clock);
        } else if (op.op === 'forget_kind') {
          // As work approved before kinds were recorded: no kind on it (reports use the contributor's current one).
          const ids = await approvedIds('time_entries');
          if (ids.length) await app.db.execute(sql`update time_entries set contributor_kind = null where organisation_id = ${organisationId} and id = ${ids[op.pick % ids.length]!}`);
        } else if (op.op === 'pay') {
          const run = await draftPayoutRun(app.db, organisationId, finance1, { currency: 'GBP', contributorIds: [people[op.who]!] }, clock);
          if (run.items.length) {
            const approved = await approvePayoutRun(app.db, organisationId, finance2, run.id, clock, false);
            for (const item of approved.items) {
              if (op.fail) await markItemFailed(app.db, organisationId, finance1, item.id, 'voucher not redeemed', clock);
              else await markItemPaid(app.db, organisationId, finance1, item.id, 'voucher', clock);
              paid++;
            }
          }
        } else {
          clock = new Date(clock.getTime() + op.days * 86_400_000 + op.hour * 3_600_000);
        }
        steps++;

        const [actual, expected] = [await rollupRows(app.db, organisationId), await expectedRollupRows(app.db, organisationId)];
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          throw new Error(`after ${op.op}: the rollups are\n${actual.join('\n')}\nbut the approved work says\n${expected.join('\n')}`);
        }

        for (const range of [{ scope: 'all' as const, from: undefined, to: undefined }, ...ranges]) {
          const filter: ReportFilter = {
            currency: 'GBP',
            from: range.from,
            to: range.to,
            ...(range.scope === 'budget' ? { budgetId: budgets[1] } : range.scope === 'project' ? { projectId: projects[0]!.id } : {}),
          };
          const reference = await fromEntries(organisationId, filter);
          const lines = await linesByKind(app.db, organisationId, filter);
          const seen = new Set<string>();
          for (const line of lines) {
            const key = `${line.contributor_id}|${line.kind}`;
            seen.add(key);
            const want = reference.get(key);
            for (const figure of FIGURES) {
              const expectedValue = want ? BigInt(want[figure]) : 0n;
              if (BigInt(line[figure]) !== expectedValue) {
                throw new Error(`after ${op.op}, ${JSON.stringify(filter)}: ${key} ${figure} is ${line[figure]} in the report, ${expectedValue} in the entries`);
              }
            }
          }
          for (const key of reference.keys()) {
            if (!seen.has(key)) throw new Error(`after ${op.op}, ${JSON.stringify(filter)}: the entries have a line ${key} the report has not`);
          }
          // The distribution report sums these lines in SQL: it must say what summing them does.
          const [report, summed] = [await distributionReport(app.db, organisationId, filter), distributionFromLines(lines, filter)];
          if (JSON.stringify(report) !== JSON.stringify(summed)) {
            throw new Error(`after ${op.op}, ${JSON.stringify(filter)}: the distribution report is\n${JSON.stringify(report)}\nbut its lines sum to\n${JSON.stringify(summed)}`);
          }
          rangesChecked++;
          if (report.groups.livedExperience.contributors > 0 && report.groups.livedExperience.contributors < report.byKind.filter((k) => isLivedExperience(k.kind)).reduce((n, k) => n + k.contributors, 0)) {
            someoneInTwoKinds++;
          }
        }
      }

      // Nothing for the repair to do where the triggers kept the rows.
      const repair = await rebuildRollups(app.db, organisationId);
      if (repair.added || repair.corrected || repair.removed) throw new Error(`the rebuild changed rows the triggers kept: ${JSON.stringify(repair)}`);
    }),
    {
      numRuns: Number(process.env.FC_RUNS ?? 20),
      examples: [
        [
          [
            { op: 'time', who: 0, date: '2026-01-31', minutes: 60, budget: 0, approve: true },
            { op: 'time', who: 0, date: '2026-02-01', minutes: 30, budget: 0, approve: true },
            { op: 'kind', who: 0, kind: 'carer' },
            { op: 'time', who: 0, date: '2026-02-28', minutes: 45, budget: 1, approve: true },
            { op: 'expense', who: 3, date: '2026-03-01', amount: 1_250, budget: 2 },
            { op: 'pay', who: 0, fail: false },
            { op: 'reverse', pick: 0, expense: true },
            { op: 'forget_kind', pick: 1 },
          ],
          [
            { from: '2026-01-02', to: '2026-02-28', scope: 'all' },
            { from: '2026-02-01', to: '2026-03-30', scope: 'project' },
          ],
        ],
      ],
    },
  );
  t.ok(steps > 0 && rangesChecked >= steps * 3, `${steps} steps, ${rangesChecked} ranges checked`);
  t.ok(reversed > 0, `${reversed} reversals`);
  t.ok(paid > 0, `${paid} payout items paid or failed`);
  t.ok(someoneInTwoKinds > 0, `${someoneInTwoKinds} reports counted someone in both lived-experience kinds once`);
});

t.test('approvals and reversals at once, of one contributor in one month, all count in the rollup', async (t) => {
  const admin: Actor = { type: 'system', id: 'rollups-race' };
  const { organisationId } = await createOrganisation(app.db, { name: 'Rollups race', adminEmail: uniqueEmail('rollups-race'), adminPassword: 'correct horse battery staple' }, admin);
  const { budgetId, contributorId } = await carerAndBudget(app.db, organisationId, admin, { amount: 100_000_000, startsOn: '2020-01-01', endsOn: '2030-12-31' }, clock);
  const coordinator = coordinatorOf(organisationId);
  const context = { organisationId, principal: coordinator, actor: admin, now: clock };
  const submit = (minutes: number) =>
    submitTimeEntry(app.db, organisationId, admin, { contributorId, budgetId, activity: 'meeting', date: '2026-03-31', minutes }, clock);
  const first = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => submit(i * 10)));
  await Promise.all(first.map((e) => approveTimeEntry(app.db, context, e.id)));
  const second = await Promise.all([7, 8, 9, 10].map((i) => submit(i * 10)));
  // Four approvals and three reversals racing on the same rollup row.
  await Promise.all([
    ...second.map((e) => approveTimeEntry(app.db, context, e.id)),
    ...first.slice(0, 3).map((e) => reverseWork(app.db, timeEntryWork as never, context, e.id, 'recorded twice')),
  ]);
  const rows = await rollupRows(app.db, organisationId);
  t.same(rows, await expectedRollupRows(app.db, organisationId), 'the rollup equals the approved work');
  t.equal(rows.length, 1);
  t.match(rows[0], new RegExp(`\\|2026-03-01\\|7\\|${40 + 50 + 60 + 70 + 80 + 90 + 100}\\|`), 'seven approved entries, 490 minutes');
});

t.test('migration 0012 fills the rollups from the work approved before it', async (t) => {
  const { cp, mkdtemp, readFile, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const { MIGRATIONS_FOLDER } = await import('../src/db/client.js');
  const schema = await import('../src/db/schema.js');
  // The migrations up to 0011, as a database upgraded from the previous version has them.
  const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(MIGRATIONS_FOLDER, dir, { recursive: true });
  const journalPath = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: { tag: string }[] };
  journal.entries = journal.entries.filter((e) => e.tag < '0012');
  await writeFile(journalPath, JSON.stringify(journal));
  const pglite = await PGlite.create();
  t.teardown(() => pglite.close());
  const db = drizzle(pglite, { schema }) as unknown as typeof app.db;
  await migrate(db as never, { migrationsFolder: dir });
  // Today's service code writes the work below, and it records audit events with a column that
  // came later (0015, changed_from): a stand-in for it while the old data is written, dropped
  // before the rest of the migrations run.
  await db.execute(sql`alter table audit_events add column changed_from jsonb`);

  const admin: Actor = { type: 'system', id: 'upgrade' };
  const now = new Date('2026-04-10T12:00:00Z');
  const { organisationId } = await createOrganisation(db, { name: 'Before rollups', adminEmail: uniqueEmail('upgrade'), adminPassword: 'correct horse battery staple' }, admin);
  const project = await createProject(db, organisationId, admin, { name: 'Panel' });
  const card = await createRateCard(db, organisationId, admin, { name: 'Rates', currency: 'GBP' });
  await addRateCardVersion(db, organisationId, admin, card.id, {
    effectiveFrom: '2020-01-01',
    rates: KINDS.map((contributorKind) => ({ activity: 'meeting' as const, contributorKind, unit: 'hour' as const, amount: 2_000 })),
  });
  const budget = await createBudget(db, organisationId, admin, {
    projectId: project.id, name: 'Grant', funder: 'Funder', grantReference: 'G', currency: 'GBP', amount: 100_000_000, startsOn: '2020-01-01', endsOn: '2030-12-31', rateCardId: card.id,
  });
  const people = [
    await createContributor(db, organisationId, admin, { name: 'One', kind: 'carer', paymentMethod: 'voucher' }, now),
    await createContributor(db, organisationId, admin, { name: 'Two', kind: 'professional', paymentMethod: 'declined' }, now),
  ];
  const coordinator = coordinatorOf(organisationId);
  const context = { organisationId, principal: coordinator, actor: admin, now };
  const approved: string[] = [];
  for (const [i, date] of ['2026-01-31', '2026-02-01', '2026-02-28', '2026-03-01'].entries()) {
    for (const person of people) {
      const entry = await submitTimeEntry(db, organisationId, admin, { contributorId: person.id, budgetId: budget.id, activity: 'meeting', date, minutes: 30 + i }, now);
      await approveTimeEntry(db, context, entry.id);
      approved.push(entry.id);
    }
  }
  await submitTimeEntry(db, organisationId, admin, { contributorId: people[0]!.id, budgetId: budget.id, activity: 'meeting', date: '2026-02-02', minutes: 45 }, now);
  await reverseWork(db, timeEntryWork as never, context, approved[0]!, 'recorded twice');
  const expense = await submitExpense(db, organisationId, admin, { contributorId: people[0]!.id, budgetId: budget.id, category: 'travel', amount: 1_234, date: '2026-02-01' }, now);
  await approveExpense(db, context, expense.id);
  await db.execute(sql`update time_entries set contributor_kind = null where organisation_id = ${organisationId} and id = ${approved[3]!}`);

  await db.execute(sql`alter table audit_events drop column changed_from`);
  await migrate(db as never, { migrationsFolder: MIGRATIONS_FOLDER });
  const rows = await rollupRows(db, organisationId);
  t.same(rows, await expectedRollupRows(db, organisationId), 'the rows are what the approved work says');
  t.equal(rows.length, 6, "a row per contributor, kind and month: One's January entry was reversed (February, March), and Two's February work is split by a lost kind (January, February twice, March)");
  t.equal(rows.filter((r) => r.includes('|1|1234')).length, 1, 'the expense counts');
  const repair = await rebuildRollups(db, organisationId);
  t.same([repair.added, repair.corrected, repair.removed], [0, 0, 0], 'nothing for the repair to do');
});
