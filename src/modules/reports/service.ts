import { createHmac } from 'node:crypto';
import { and, asc, eq, sql, type SQL } from 'drizzle-orm';
import { queryRows, type Db } from '../../db/client.js';
import { budgets, organisations } from '../../db/schema.js';
import { contributorKinds, isLivedExperience, livedExperienceKinds, type ContributorKind } from '../../domain/enums.js';
import { addDays, type IsoDate } from '../../domain/earnings-period.js';
import { roundHalfUpDiv, toSafeNumber } from '../../domain/money.js';
import { notFound } from '../../errors.js';
import { isUuid } from '../../lib/ids.js';
import { budgetFigures, getBudgetRow, type BudgetFigures, type BudgetRow } from '../budgets/service.js';
import { toBudgetResponse, type BudgetResponse } from '../budgets/views.js';
import { getProject } from '../projects/service.js';

/**
 * Reports for funders, boards and finance. Everything is aggregated in SQL over the approved
 * work and the ledger; no report carries a name, email or payment detail unless it says so:
 * contributors appear under pseudonyms that are stable within an organisation (an HMAC of the
 * contributor id under a per-organisation secret), so the same person can be followed across
 * reports without being identified.
 */

export interface ReportFilter {
  projectId?: string;
  budgetId?: string;
  from?: string;
  to?: string;
  currency: string;
}

export async function pseudonymiser(db: Db, organisationId: string): Promise<(contributorId: string) => string> {
  const [org] = await db.select({ key: organisations.pseudonymKey }).from(organisations).where(eq(organisations.id, organisationId));
  if (!org) throw notFound('The organisation');
  return (contributorId) => `P-${createHmac('sha256', org.key).update(contributorId).digest('hex').slice(0, 10).toUpperCase()}`;
}

/** SQL conditions on work (alias w, joined to budgets b) for the report's filter. */
function workScope(organisationId: string, f: ReportFilter): SQL {
  return sql`${workPlace(organisationId, f)} and ${workDates(f)}`;
}

/**
 * The filter's conditions on approved work (alias w, budgets b) but its dates. With `rollup`, on
 * report_work_months rows instead (alias w), which hold approved work only.
 */
function workPlace(organisationId: string, f: ReportFilter, rollup = false): SQL {
  const parts: SQL[] = [sql`w.organisation_id = ${organisationId}`, ...(rollup ? [] : [sql`w.status = 'approved'`]), sql`w.currency = ${f.currency}`];
  if (f.projectId) parts.push(isUuid(f.projectId) ? sql`b.project_id = ${f.projectId}` : sql`false`);
  if (f.budgetId) parts.push(isUuid(f.budgetId) ? sql`w.budget_id = ${f.budgetId}` : sql`false`);
  return sql.join(parts, sql` and `);
}

/** Whether work (alias w) is dated in the filter's range: `true` without one. */
function workDates(f: ReportFilter): SQL {
  const parts: SQL[] = [];
  if (f.from) parts.push(sql`w.date >= ${f.from}`);
  if (f.to) parts.push(sql`w.date <= ${f.to}`);
  return parts.length ? sql`(${sql.join(parts, sql` and `)})` : sql`true`;
}

/**
 * The first day of the month `months` after the one of the calendar date `d` (0: its own).
 * Calendar arithmetic only: `d` is already a Europe/London date, and UTC here is just a
 * calendar with no clock changes.
 */
const monthStart = (d: IsoDate, months: number): IsoDate => {
  const [y, m] = d.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m - 1 + months, 1)).toISOString().slice(0, 10);
};

/**
 * The whole calendar months inside the filter's range, as `[from, until)` (first days of months;
 * either end open when the range is): the months the rollups (report_work_months) answer for.
 * The rest of the range, its partial months at either end, is read from the entries.
 */
function wholeMonths(f: ReportFilter): { from?: string; until?: string } {
  // The first whole month starts after the day before `from`; the last ends with the month the day
  // after `to` is in (so a `to` on a month's last day keeps that month whole).
  const from = f.from === undefined ? undefined : monthStart(addDays(f.from, -1), 1);
  const until = f.to === undefined ? undefined : monthStart(addDays(f.to, 1), 0);
  return { from, until };
}

/** Whether a rollup row's month (alias w) is one of the range's whole months: `true` without a range. */
function rollupMonths(f: ReportFilter): SQL {
  const { from, until } = wholeMonths(f);
  const parts: SQL[] = [];
  if (from !== undefined) parts.push(sql`w.month >= ${from}`);
  if (until !== undefined) parts.push(sql`w.month < ${until}`);
  return parts.length ? sql`(${sql.join(parts, sql` and `)})` : sql`true`;
}

/** Whether work (alias w) is dated in the range's partial months: `false` without a range (all is in whole months). */
function partialMonths(f: ReportFilter): SQL {
  if (f.from === undefined && f.to === undefined) return sql`false`;
  const { from, until } = wholeMonths(f);
  const whole: SQL[] = [];
  if (from !== undefined) whole.push(sql`w.date >= ${from}`);
  if (until !== undefined) whole.push(sql`w.date < ${until}`);
  return sql`(${workDates(f)} and not (${sql.join(whole, sql` and `)}))`;
}

/** Conditions on contributors' paid accounts (alias a, budgets b) for the filter's project and budget. */
function paidAccountScope(organisationId: string, f: ReportFilter): SQL {
  const parts: SQL[] = [sql`a.organisation_id = ${organisationId}`, sql`a.type = 'contributor_paid'`, sql`a.currency = ${f.currency}`];
  if (f.projectId) parts.push(isUuid(f.projectId) ? sql`b.project_id = ${f.projectId}` : sql`false`);
  if (f.budgetId) parts.push(isUuid(f.budgetId) ? sql`a.budget_id = ${f.budgetId}` : sql`false`);
  return sql.join(parts, sql` and `);
}

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/**
 * CTE `contributor_kinds (contributor_id, kind, kinds)` from CTE `work` (approved time entries
 * and expenses in the filter's project and budget, of every date, grouped by contributor and
 * recorded kind): how many kinds each contributor's work was approved with, and
 * the kind when it is one. Reversed work anywhere in the organisation counts too (there is
 * little of it, found by the status index): money paid for work whose payment then failed, and
 * which was reversed afterwards, went to that work's kind.
 */
function contributorKindsCte(organisationId: string, f: ReportFilter): SQL {
  const reversed = (table: string) => sql`
          select contributor_id, contributor_kind as kind from ${sql.raw(table)}
           where organisation_id = ${organisationId} and status = 'reversed' and currency = ${f.currency}`;
  return sql`
    contributor_kinds as (
      select contributor_id, min(kind) as kind, count(distinct coalesce(kind, '')) as kinds
        from (
          select contributor_id, kind from work
          union all ${reversed('time_entries')}
          union all ${reversed('expenses')}
        ) x
       group by contributor_id
    )`;
}

/**
 * CTEs (to follow `contributor_kinds`, see contributorKindsCte) ending in `paid (contributor_id, kind,
 * paid, expenses_paid)`: the money in contributors' paid accounts of the filter's project and
 * budget, paid in its range (by the transaction's effective date: the Europe/London date the
 * item was paid, or its transfer reversed), earnings and expenses apart, under the contributor
 * kind recorded on the work it paid.
 *
 * A ledger account knows its contributor, budget and component but not a kind, so:
 * - When all the contributor's work in the filter's project and budget was approved with one
 *   kind (nearly everyone: a kind seldom changes), every penny in their accounts there paid
 *   work of that kind, and that is its kind. Over all time an account's cached balance is
 *   the amount, so the postings are not read.
 * - Otherwise each posting into or out of the account is attributed through the payout item it
 *   belongs to (the transaction's reference: `payout_paid` adds an item's money,
 *   `payout_reversed` takes back what Stripe reversed): the item's work allocations
 *   (payout_item_work) in the posting's budget and component say which time entries or
 *   expenses it paid, each with the kind it was approved with. Whatever the item's status now,
 *   its allocations still say what it paid, so a reversal is taken from the kinds it was paid
 *   to. An item that paid work of several kinds shares the posting in proportion to what it
 *   allocated to each, rounded half up on the running total so the parts add up exactly.
 * Both give the same answer wherever both apply, so which one is used never shows. Money no
 * allocation explains (the service writes none; bulk-loaded ledgers may have some), and work
 * approved before kinds were recorded, have a null kind here: callers count it under the
 * contributor's current kind, the only record there is.
 */
function paidByKindCtes(organisationId: string, f: ReportFilter): SQL {
  const dates: SQL[] = [];
  if (f.from) dates.push(sql`t.effective_date >= ${f.from}`);
  if (f.to) dates.push(sql`t.effective_date <= ${f.to}`);
  const ranged = dates.length > 0;
  // The postings read: in a range, those of every account, dated in it. Over all time only
  // those of the few people whose kind changed (the others' accounts are summed from their
  // cached balances in paid_parts), reached from contributor_kinds so that the planner knows
  // they are few, and read account by account through the postings' index.
  const moves = ranged
    ? sql`
      select p.id as posting_id, a.contributor_id, a.budget_id, a.component, a.single, a.kind, p.amount, t.reference_type, t.reference_id
        from paid_accounts a
        join ledger_postings p on p.organisation_id = ${organisationId} and p.account = a.code and p.currency = a.currency
        join ledger_transactions t on t.organisation_id = ${organisationId} and t.id = p.transaction_id
       where ${sql.join(dates, sql` and `)}`
    : sql`
      select p.id as posting_id, a.contributor_id, a.budget_id, a.component, false as single, null as kind, p.amount, t.reference_type, t.reference_id
        from contributor_kinds k
        join ledger_accounts a on a.organisation_id = ${organisationId} and a.contributor_id = k.contributor_id
        join budgets b on b.organisation_id = a.organisation_id and b.id = a.budget_id
        cross join lateral (
          select p.id, p.amount, p.transaction_id from ledger_postings p
           where p.organisation_id = ${organisationId} and p.account = a.code and p.currency = a.currency
          offset 0 -- keeps the planner from flattening this into a join over every posting
        ) p
        join ledger_transactions t on t.organisation_id = ${organisationId} and t.id = p.transaction_id
       where k.kinds > 1 and ${paidAccountScope(organisationId, f)}`;
  return sql`
    paid_accounts as (
      select a.code, a.currency, a.contributor_id, a.budget_id, a.component, a.balance,
             coalesce(k.kinds, 1) = 1 as single, k.kind
        from ledger_accounts a
        join budgets b on b.organisation_id = a.organisation_id and b.id = a.budget_id
        left join contributor_kinds k on k.contributor_id = a.contributor_id
       where ${paidAccountScope(organisationId, f)}
    ), paid_moves as (
      select m.posting_id, m.contributor_id, m.budget_id, m.component, m.single, m.kind, m.amount,
             case when not m.single and m.reference_type = 'payout_item' and m.reference_id ~ ${UUID_PATTERN}
                  then m.reference_id::uuid end as item_id
        from (${moves}) m
    ), item_kinds as (
      -- Item by item (lateral), through the allocations' and the work's primary keys: few items
      -- pay someone whose kind changed, however many postings the range has.
      select i.item_id, x.budget_id, x.component, x.kind, x.allocated
        from (select distinct item_id from paid_moves where not single and item_id is not null) i
       cross join lateral (
          select a.budget_id, 'earnings' as component, w.contributor_kind as kind, sum(a.amount) as allocated
            from payout_item_work a
            join time_entries w on w.organisation_id = a.organisation_id and w.id = a.work_id
           where a.organisation_id = ${organisationId} and a.item_id = i.item_id and a.work_type = 'time_entry'
           group by a.budget_id, w.contributor_kind
          union all
          select a.budget_id, 'expenses' as component, w.contributor_kind as kind, sum(a.amount) as allocated
            from payout_item_work a
            join expenses w on w.organisation_id = a.organisation_id and w.id = a.work_id
           where a.organisation_id = ${organisationId} and a.item_id = i.item_id and a.work_type = 'expense'
           group by a.budget_id, w.contributor_kind
        ) x
    ), paid_parts as (${ranged ? sql`` : sql`
      select contributor_id, component, kind, balance as amount from paid_accounts where single
      union all`}
      select contributor_id, component, kind, amount from paid_moves where single
      union all
      select m.contributor_id, m.component, k.kind,
             case when k.allocated is null then m.amount
                  else (floor(m.amount::numeric * sum(k.allocated) over running / sum(k.allocated) over whole + 0.5)
                     - floor(m.amount::numeric * (sum(k.allocated) over running - k.allocated) / sum(k.allocated) over whole + 0.5))::bigint
             end as amount
        from paid_moves m
        left join item_kinds k on k.item_id = m.item_id and k.budget_id = m.budget_id and k.component = m.component
       where not m.single
      window whole as (partition by m.posting_id),
             running as (partition by m.posting_id order by k.kind rows between unbounded preceding and current row)
    ), paid as (
      select contributor_id, kind,
             sum(case when component = 'earnings' then amount else 0 end)::bigint as paid,
             sum(case when component = 'expenses' then amount else 0 end)::bigint as expenses_paid
        from paid_parts
       group by contributor_id, kind
    )`;
}


export interface Group {
  contributors: number;
  minutes: number;
  earned: number;
  /** Earnings paid (never expenses). */
  paid: number;
  expenses: number;
  expensesPaid: number;
  inKindValue: number;
  declinedValue: number;
  /** earned per hour of the paid time (excluding in-kind and declined), minor units, half up. */
  effectiveHourlyRate: number;
}

/** A kind's or a group's figures in the distribution report (none: noughts). */
function toGroup(sums: KindSums | undefined): Group {
  if (!sums) return { contributors: 0, minutes: 0, earned: 0, paid: 0, expenses: 0, expensesPaid: 0, inKindValue: 0, declinedValue: 0, effectiveHourlyRate: 0 };
  const paidMinutes = BigInt(sums.paid_minutes);
  return {
    contributors: toSafeNumber(sums.contributors),
    minutes: toSafeNumber(sums.minutes),
    earned: toSafeNumber(sums.earned),
    paid: toSafeNumber(sums.paid),
    expenses: toSafeNumber(sums.expenses),
    expensesPaid: toSafeNumber(sums.expenses_paid),
    inKindValue: toSafeNumber(sums.in_kind),
    declinedValue: toSafeNumber(sums.declined),
    effectiveHourlyRate: paidMinutes > 0n ? toSafeNumber(roundHalfUpDiv(BigInt(sums.earned) * 60n, paidMinutes)) : 0,
  };
}

/** A fraction 0–1, or 0 when there is nothing to share. Not money, so a float is right here. */
const share = (part: bigint, whole: bigint): number => (whole === 0n ? 0 : Number((part * 1_000_000n) / whole) / 1_000_000);

/** Work and money as a report's SQL returns them (text), for a line or a sum of lines. */
interface KindFigures {
  minutes: string;
  /** Minutes neither in kind nor declined. */
  paid_minutes: string;
  earned: string;
  in_kind: string;
  declined: string;
  expenses: string;
  paid: string;
  expenses_paid: string;
}

/** A contributor's work and money in a report, under one kind recorded on their work. */
export interface KindLine extends KindFigures {
  contributor_id: string;
  kind: ContributorKind;
}

/**
 * Per contributor and kind recorded on their work: approved work dated in the filter's range
 * (minutes, earnings, in-kind and declined value, expenses) and the money paid in it (earnings
 * and expenses apart, under the kind of the work it paid: see paidByKindCtes). The distribution
 * and grant reports both read it, so they count by the same rule. (Exported for the rollups' property
 * test, test/report-rollups.test.ts.)
 */
export async function linesByKind(db: Db, organisationId: string, filter: ReportFilter): Promise<KindLine[]> {
  return queryRows<KindLine>(db, linesByKindQuery(organisationId, filter));
}

/** The statement of linesByKind, for reports that go on to sum its lines in SQL. */
function linesByKindQuery(organisationId: string, filter: ReportFilter): SQL {
  // Work is joined to its budget only to filter by project: each entry has exactly one budget
  // (a foreign key), so the join changes nothing else, and over a million entries the unneeded
  // hash join was a sixth of the report's time. (The paid postings keep theirs: there the
  // planner reaches the postings through the budgets' accounts, far faster than a scan of them.)
  const budgetOfWork = filter.projectId ? sql`join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id` : sql``;
  // Work of every date is read, so contributor_kinds knows the kinds of all the work money paid
  // in the range may have paid; the figures themselves count the range only.
  //
  // The work comes from the rollups (report_work_months, see rollups.ts): one row per
  // contributor, budget, kind and month, whose rows say which kinds each contributor's work was
  // approved with (of every date) and, for the range's whole months, its figures. Only the
  // range's partial months are read from the entries; without a range, none are. Time and
  // expenses are read in one pass over the rollups: a row's time figures are nought when it
  // counts no time entry (and its expenses when it counts no expense), so one group per
  // contributor and kind holds both.
  const place = workPlace(organisationId, filter);
  const rolled = workPlace(organisationId, filter, true);
  const whole = rollupMonths(filter);
  const partial = partialMonths(filter);
  return sql`
    with work as (
      -- Sums of bigints are numeric, and numeric sums of them again (in keyed, below) are a tenth
      -- of the report's time: they stay bigints here (each well inside one: money is at most
      -- 2^53 minor units a row, and sums that outgrow a bigint fail rather than wrap).
      select contributor_id, kind, coalesce(sum(minutes), 0)::bigint as minutes, coalesce(sum(paid_minutes), 0)::bigint as paid_minutes,
             coalesce(sum(earned), 0)::bigint as earned, coalesce(sum(in_kind), 0)::bigint as in_kind,
             coalesce(sum(declined), 0)::bigint as declined, coalesce(sum(expenses), 0)::bigint as expenses
        from (
          select w.contributor_id, nullif(w.kind, '') as kind,
                 case when ${whole} then w.minutes else 0 end as minutes,
                 case when ${whole} then w.paid_minutes else 0 end as paid_minutes,
                 case when ${whole} then w.earned else 0 end as earned,
                 case when ${whole} then w.in_kind else 0 end as in_kind,
                 case when ${whole} then w.declined else 0 end as declined,
                 case when ${whole} then w.expenses else 0 end as expenses
            from report_work_months w ${budgetOfWork}
           where ${rolled} and (w.time_entries > 0 or w.expense_count > 0)
          union all
          select w.contributor_id, w.contributor_kind, w.minutes, case when w.in_kind or w.declined then 0 else w.minutes end,
                 w.amount, case when w.in_kind then w.value else 0 end, case when w.declined then w.value else 0 end, 0
            from time_entries w ${budgetOfWork}
           where ${place} and ${partial}
          union all
          select w.contributor_id, w.contributor_kind, 0, 0, 0, 0, 0, w.amount
            from expenses w ${budgetOfWork}
           where ${place} and ${partial}
        ) x
       group by contributor_id, kind
    ), ${contributorKindsCte(organisationId, filter)}, ${paidByKindCtes(organisationId, filter)}, keyed as (
      select contributor_id, kind, minutes, paid_minutes, earned, in_kind, declined, expenses, 0 as paid, 0 as expenses_paid from work
      union all
      select contributor_id, kind, 0, 0, 0, 0, 0, 0, paid, expenses_paid from paid
    )
    select k.contributor_id, coalesce(k.kind, c.kind) as kind,
           sum(k.minutes) as minutes, sum(k.paid_minutes) as paid_minutes, sum(k.earned) as earned,
           sum(k.in_kind) as in_kind, sum(k.declined) as declined, sum(k.expenses) as expenses,
           sum(k.paid) as paid, sum(k.expenses_paid) as expenses_paid
      from keyed k
      join contributors c on c.organisation_id = ${organisationId} and c.id = k.contributor_id
     group by 1, 2`;
}

/**
 * How money and time were shared between lived-experience contributors (lived_experience and
 * carer) and professionals, over approved work dated in the range, and the money paid in it
 * (by the day it was paid). Work counts under the kind recorded on it when it was approved, and
 * money paid under the kind recorded on the work it paid (see paidByKindCtes), so a contributor
 * whose kind changes later leaves every earlier report as it was; someone whose kind changed
 * is counted under each kind they gave time as.
 */
export async function distributionReport(db: Db, organisationId: string, filter: ReportFilter) {
  // linesByKind's lines (one per contributor and kind, tens of thousands in a large organisation)
  // summed here rather than in the service: a line per kind, and one per group for its distinct
  // contributors (someone who gave time as a carer and with lived experience counts once in the
  // group). Sent to the service and summed there, the lines took about a sixth of its time.
  const livedKinds = sql.join(
    livedExperienceKinds.map((k) => sql`${k}`),
    sql`, `,
  );
  const rows = await queryRows<KindSums>(
    db,
    sql`
    select grouping(kind) = 0 as by_kind, kind, lived,
           count(distinct contributor_id) filter (where minutes > 0 or expenses > 0 or paid > 0 or expenses_paid > 0) as contributors,
           sum(minutes) as minutes, sum(paid_minutes) as paid_minutes, sum(earned) as earned,
           sum(in_kind) as in_kind, sum(declined) as declined, sum(expenses) as expenses,
           sum(paid) as paid, sum(expenses_paid) as expenses_paid
      from (select l.*, l.kind in (${livedKinds}) as lived from (${linesByKindQuery(organisationId, filter)}) l) x
     group by grouping sets ((kind), (lived))`,
  );
  const byKind = new Map(rows.filter((r) => r.by_kind).map((r) => [r.kind, r]));
  const lived = rows.find((r) => !r.by_kind && r.lived);
  const professional = rows.find((r) => !r.by_kind && !r.lived);
  const earned = (r?: KindSums) => BigInt(r?.earned ?? 0);
  const minutes = (r?: KindSums) => BigInt(r?.minutes ?? 0);
  return {
    currency: filter.currency,
    filters: { projectId: filter.projectId ?? null, budgetId: filter.budgetId ?? null, from: filter.from ?? null, to: filter.to ?? null },
    groups: { livedExperience: toGroup(lived), professional: toGroup(professional) },
    byKind: contributorKinds.map((kind) => ({ kind, ...toGroup(byKind.get(kind)) })),
    livedExperienceShareOfMoney: share(earned(lived), earned(lived) + earned(professional)),
    livedExperienceShareOfHours: share(minutes(lived), minutes(lived) + minutes(professional)),
  };
}

/** A row of the distribution report's sums: a kind's (by_kind) or a group's (lived or not). */
interface KindSums extends KindFigures {
  by_kind: boolean;
  kind: ContributorKind | null;
  lived: boolean | null;
  /** Distinct contributors with minutes, expenses or money paid in the kind or group. */
  contributors: string;
}

/** A reporting period: inclusive Europe/London calendar dates (YYYY-MM-DD), either end open. */
export interface ReportPeriod {
  from?: string;
  to?: string;
}

/**
 * Which date puts each figure of a period report in the period. Every period report states it
 * (`period.basis`), so a funder's script need not guess:
 * - `work`: minutes, earned, expenses, in-kind and declined value (and so byActivity, byMonth and
 *   the shares) by the date of the work, the day the time was given or the money spent, whenever
 *   it was approved. Work reversed since (a correction: recorded twice, say) is in no period.
 * - `paid`: paid and expensesPaid by the Europe/London day the money was paid (the item marked
 *   paid, or paid through Stripe), less what Stripe reversed by the day of the reversal: money
 *   counts when it is received, as statements and earnings limits count it.
 * - `position`: the budget's figures (committed, owed, in transit, available, total; paid to
 *   date) as at the end of `to`, summed from the ledger's postings by their transactions'
 *   effective dates: the budget's funding on its start date, an approval on the work's date, a
 *   payment, failure, reversal or adjustment on the UK day it happened. Without `to` they are the
 *   budget's figures now, as in the report without a period.
 */
export const PERIOD_BASIS = { work: 'work_date', paid: 'payment_date', position: 'ledger_effective_date' } as const;

export function periodView(period: ReportPeriod) {
  return { from: period.from ?? null, to: period.to ?? null, basis: PERIOD_BASIS };
}
export type PeriodView = ReturnType<typeof periodView>;

/** A budget's (or a project's, in one currency) figures at a period's end: see PERIOD_BASIS. */
export interface BudgetPosition {
  /** The last day counted, or null for everything recorded so far. */
  asAt: string | null;
  total: number;
  /** owed + inTransit + paid + expensesPaid */
  committed: number;
  owed: number;
  inTransit: number;
  /** Earnings paid to date; never expenses. */
  paid: number;
  expensesPaid: number;
  available: number;
}

interface PositionSums {
  available: bigint;
  owed: bigint;
  inTransit: bigint;
  paid: bigint;
  expensesPaid: bigint;
}
const noSums = (): PositionSums => ({ available: 0n, owed: 0n, inTransit: 0n, paid: 0n, expensesPaid: 0n });

function toPosition(asAt: string | null, s: PositionSums): BudgetPosition {
  const committed = s.owed + s.inTransit + s.paid + s.expensesPaid;
  return {
    asAt,
    total: toSafeNumber(s.available + committed),
    committed: toSafeNumber(committed),
    owed: toSafeNumber(s.owed),
    inTransit: toSafeNumber(s.inTransit),
    paid: toSafeNumber(s.paid),
    expensesPaid: toSafeNumber(s.expensesPaid),
    available: toSafeNumber(s.available),
  };
}

/** The figures of the budget view (see toBudgetResponse) from a position. */
function positionFigures(budget: BudgetRow, p: BudgetPosition): BudgetFigures {
  const paid = p.paid + p.expensesPaid;
  return { total: p.total, adjustments: p.total - budget.amount, committed: p.committed, owed: p.owed, inTransit: p.inTransit, paid, available: p.available };
}

/**
 * Each budget's ledger sums as at the end of `asAt` (by the effective dates of the postings'
 * transactions), or over everything recorded when `asAt` is null, when the accounts' cached
 * balances are the sums (invariant 3) and no posting is read.
 */
async function budgetSums(db: Db, organisationId: string, budgetRows: BudgetRow[], asAt: string | null): Promise<Map<string, PositionSums>> {
  const sums = new Map(budgetRows.map((b) => [b.id, noSums()]));
  if (budgetRows.length === 0) return sums;
  const ids = sql.join(
    budgetRows.map((b) => sql`${b.id}`),
    sql`, `,
  );
  const rows = await queryRows<{ budget_id: string; type: string; component: string | null; amount: string }>(
    db,
    asAt === null
      ? sql`
      select a.budget_id, a.type, a.component, sum(a.balance) as amount
        from ledger_accounts a
       where a.organisation_id = ${organisationId} and a.budget_id in (${ids})
       group by 1, 2, 3`
      : sql`
      select a.budget_id, a.type, a.component, sum(p.amount) as amount
        from ledger_accounts a
        join ledger_postings p on p.organisation_id = a.organisation_id and p.account = a.code and p.currency = a.currency
        join ledger_transactions t on t.organisation_id = p.organisation_id and t.id = p.transaction_id
       where a.organisation_id = ${organisationId} and a.budget_id in (${ids}) and t.effective_date <= ${asAt}
       group by 1, 2, 3`,
  );
  for (const r of rows) {
    const s = sums.get(r.budget_id);
    if (!s) continue;
    const amount = BigInt(r.amount);
    if (r.type === 'budget_available') s.available += amount;
    else if (r.type === 'contributor_owed') s.owed += amount;
    else if (r.type === 'contributor_in_transit') s.inTransit += amount;
    else if (r.type === 'contributor_paid' && r.component === 'expenses') s.expensesPaid += amount;
    else if (r.type === 'contributor_paid') s.paid += amount;
  }
  return sums;
}

/**
 * The work and money of a report's filter (one budget, or a project's budgets in one currency):
 * spend by activity, by contributor kind and by month, and a line per contributor (and kind)
 * under a pseudonym, with the earnings and expenses paid. In a range (see PERIOD_BASIS) a
 * contributor with nothing in it has no line, so `contributors` counts the people of each kind
 * with work or money in the period; a line per person and kind keeps that count exact across a
 * project's budgets (one person on two budgets is one line).
 */
async function spendOf(db: Db, organisationId: string, filter: ReportFilter, pseudonym: (contributorId: string) => string) {
  const scope = workScope(organisationId, filter);
  const ranged = filter.from !== undefined || filter.to !== undefined;

  const byActivity = await queryRows<{ activity: string; minutes: string; earned: string; in_kind: string; declined: string }>(
    db,
    sql`select w.activity, sum(w.minutes) as minutes, sum(w.amount) as earned,
               sum(case when w.in_kind then w.value else 0 end) as in_kind,
               sum(case when w.declined then w.value else 0 end) as declined
          from time_entries w join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id
         where ${scope} group by w.activity order by w.activity`,
  );
  const lines = await linesByKind(db, organisationId, filter);
  const byMonth = await queryRows<{ month: string; minutes: string; earned: string; lived_earned: string; professional_earned: string; expenses: string }>(
    db,
    sql`
    with work as (
      select to_char(w.date, 'YYYY-MM') as month, sum(w.minutes) as minutes, sum(w.amount) as earned,
             sum(case when coalesce(w.contributor_kind, c.kind) = 'professional' then 0 else w.amount end) as lived_earned,
             sum(case when coalesce(w.contributor_kind, c.kind) = 'professional' then w.amount else 0 end) as professional_earned
        from time_entries w join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id
        join contributors c on c.organisation_id = w.organisation_id and c.id = w.contributor_id
       where ${scope} group by 1
    ), spent as (
      select to_char(w.date, 'YYYY-MM') as month, sum(w.amount) as expenses
        from expenses w join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id
       where ${scope} group by 1
    )
    select month, coalesce(work.minutes, 0) as minutes, coalesce(work.earned, 0) as earned,
           coalesce(work.lived_earned, 0) as lived_earned, coalesce(work.professional_earned, 0) as professional_earned,
           coalesce(spent.expenses, 0) as expenses
      from work full join spent using (month) order by month`,
  );

  const n = (v: string) => toSafeNumber(v);
  const kindOrder = (kind: ContributorKind) => contributorKinds.indexOf(kind);
  const contributorLines = lines
    .map((l) => ({
      pseudonym: pseudonym(l.contributor_id),
      kind: l.kind,
      livedExperience: isLivedExperience(l.kind),
      minutes: n(l.minutes),
      earned: n(l.earned),
      expenses: n(l.expenses),
      inKindValue: n(l.in_kind),
      declinedValue: n(l.declined),
      paid: n(l.paid),
      expensesPaid: n(l.expenses_paid),
    }))
    // linesByKind reads work of every date (to know the kinds money paid in the range paid), so
    // in a range someone whose work and money all fall outside it has a line of noughts.
    .filter((l) => !ranged || l.minutes !== 0 || l.earned !== 0 || l.expenses !== 0 || l.inKindValue !== 0 || l.declinedValue !== 0 || l.paid !== 0 || l.expensesPaid !== 0)
    .sort((a, b) => a.pseudonym.localeCompare(b.pseudonym) || kindOrder(a.kind) - kindOrder(b.kind));
  const sum = (of: typeof contributorLines, field: 'minutes' | 'earned' | 'expenses' | 'inKindValue' | 'declinedValue' | 'paid' | 'expensesPaid') =>
    toSafeNumber(of.reduce((s, l) => s + BigInt(l[field]), 0n));
  const byKind = contributorKinds.map((kind) => {
    const of = contributorLines.filter((l) => l.kind === kind);
    return {
      kind,
      contributors: of.length,
      minutes: sum(of, 'minutes'),
      earned: sum(of, 'earned'),
      expenses: sum(of, 'expenses'),
      inKindValue: sum(of, 'inKindValue'),
      declinedValue: sum(of, 'declinedValue'),
      paid: sum(of, 'paid'),
      expensesPaid: sum(of, 'expensesPaid'),
    };
  });
  const livedEarned = BigInt(byKind.filter((k) => isLivedExperience(k.kind)).reduce((s, k) => s + k.earned, 0));
  const totalEarned = BigInt(byKind.reduce((s, k) => s + k.earned, 0));
  return {
    // Every paid posting in the filter (and range) is on exactly one line, so these are the
    // ledger's own totals of its paid accounts, earnings and expenses apart.
    paid: sum(contributorLines, 'paid'),
    expensesPaid: sum(contributorLines, 'expensesPaid'),
    livedExperienceShareOfMoney: share(livedEarned, totalEarned),
    byActivity: byActivity.map((a) => ({
      activity: a.activity,
      minutes: n(a.minutes),
      earned: n(a.earned),
      inKindValue: n(a.in_kind),
      declinedValue: n(a.declined),
    })),
    byKind,
    byMonth: byMonth.map((m) => ({
      month: m.month,
      minutes: n(m.minutes),
      earned: n(m.earned),
      livedExperienceEarned: n(m.lived_earned),
      professionalEarned: n(m.professional_earned),
      expenses: n(m.expenses),
    })),
    contributors: contributorLines,
  };
}
type Spend = Awaited<ReturnType<typeof spendOf>>;

export interface GrantReport {
  /** Only in a period report (from or to given). */
  period?: PeriodView;
  budget: BudgetResponse;
  committed: number;
  paid: number;
  expensesPaid: number;
  inTransit: number;
  owed: number;
  available: number;
  /** Only in a period report: the budget's position at the period's end, paid to date included. */
  position?: BudgetPosition;
  livedExperienceShareOfMoney: number;
  byActivity: Spend['byActivity'];
  byKind: Spend['byKind'];
  byMonth: Spend['byMonth'];
  contributors: Spend['contributors'];
}

/**
 * The grant report of one budget: its figures from the ledger; spend by activity, by
 * contributor kind and by month; and a line per contributor (and kind) under a pseudonym.
 * Everything by kind uses the kind recorded on the work (and, for money paid, on the work it
 * paid: see paidByKindCtes), so a report given to a funder is never rewritten by a later change
 * of a contributor's kind; a contributor whose kind changed has a line for each kind. `paid` is
 * always earnings paid and `expensesPaid` the expenses repaid beside it, so `committed` is
 * `owed + inTransit + paid + expensesPaid` (owed and in transit hold both).
 *
 * With a period (from, to or both) the report is the period's (see PERIOD_BASIS): the work and
 * money in it, and the budget's position at its end. Its amounts that are balances (the
 * budget's figures, committed, owed, in transit, available) are as at the end of `to`; those
 * that are movements (paid, expensesPaid, and every line) are the period's; `position` has the
 * balances with paid to date beside them, for which `committed` is again the sum.
 * Errors: not_found (the budget, including another organisation's).
 */
export async function grantReport(db: Db, organisationId: string, budgetId: string, period: ReportPeriod = {}): Promise<GrantReport> {
  const budget = await getBudgetRow(db, organisationId, budgetId);
  const pseudonym = await pseudonymiser(db, organisationId);
  const spend = await spendOf(db, organisationId, { budgetId, currency: budget.currency, ...period }, pseudonym);
  if (period.from === undefined && period.to === undefined) {
    const figures = await budgetFigures(db, organisationId, budget);
    return { budget: toBudgetResponse(budget, figures), ...moneyFigures(figures, spend), ...workLines(spend) };
  }
  const asAt = period.to ?? null;
  const position = toPosition(asAt, (await budgetSums(db, organisationId, [budget], asAt)).get(budget.id)!);
  return {
    period: periodView(period),
    budget: toBudgetResponse(budget, positionFigures(budget, position)),
    ...moneyFigures(position, spend),
    position,
    ...workLines(spend),
  };
}

/**
 * A grant report's money (and each currency part's of a project report): the balances, from
 * the ledger now or as at the period's end, around the earnings and expenses paid in the period.
 */
function moneyFigures(balances: { committed: number; inTransit: number; owed: number; available: number }, spend: Spend) {
  return {
    committed: balances.committed,
    paid: spend.paid,
    expensesPaid: spend.expensesPaid,
    inTransit: balances.inTransit,
    owed: balances.owed,
    available: balances.available,
  };
}

/** A grant report's work: the lived-experience share of the money, and the lines by activity, kind, month and contributor. */
function workLines({ livedExperienceShareOfMoney, byActivity, byKind, byMonth, contributors }: Spend) {
  return { livedExperienceShareOfMoney, byActivity, byKind, byMonth, contributors };
}

/**
 * The grant report across all of a project's budgets, for a period or for all time (see
 * PERIOD_BASIS). Budgets may be in different currencies, and money in two currencies is never
 * added up, so the report has a part per currency (in code order), each the budget report's
 * figures for the project's budgets in that currency: every budget's position at the period's
 * end, their sums, and the work and money of the period with a line per contributor and kind
 * across those budgets (one person working on two budgets is one contributor). A project with
 * no budgets has no parts. Errors: not_found (the project, including another organisation's).
 */
export async function projectReport(db: Db, organisationId: string, projectId: string, period: ReportPeriod = {}) {
  const project = await getProject(db, organisationId, projectId);
  const budgetRows = await db
    .select()
    .from(budgets)
    .where(and(eq(budgets.organisationId, organisationId), eq(budgets.projectId, project.id)))
    .orderBy(asc(budgets.currency), asc(budgets.name), asc(budgets.id));
  const pseudonym = await pseudonymiser(db, organisationId);
  const asAt = period.to ?? null;
  const sums = await budgetSums(db, organisationId, budgetRows, asAt);
  const currencies = [...new Set(budgetRows.map((b) => b.currency))];
  const parts = [];
  for (const currency of currencies) {
    const inCurrency = budgetRows.filter((b) => b.currency === currency);
    const total = noSums();
    const budgetViews = inCurrency.map((b) => {
      const s = sums.get(b.id)!;
      for (const k of Object.keys(total) as (keyof PositionSums)[]) total[k] += s[k];
      return toBudgetResponse(b, positionFigures(b, toPosition(asAt, s)));
    });
    const position = toPosition(asAt, total);
    const spend = await spendOf(db, organisationId, { projectId: project.id, currency, ...period }, pseudonym);
    parts.push({ currency, budgets: budgetViews, ...moneyFigures(position, spend), position, ...workLines(spend) });
  }
  return { project: { id: project.id, name: project.name }, period: periodView(period), currencies: parts };
}
export type ProjectReport = Awaited<ReturnType<typeof projectReport>>;

const AGE_BUCKETS = [
  { bucket: '0-14', min: 0, max: 14 },
  { bucket: '15-30', min: 15, max: 30 },
  { bucket: '31-60', min: 31, max: 60 },
  { bucket: '60+', min: 61, max: Number.MAX_SAFE_INTEGER },
] as const;

/**
 * Approved work with money, of one table (time entries or expenses), whose money has not all
 * reached the person, in three disjoint parts each found through an index or one pass: work no
 * payout item has completed (owed, or in a draft's pending item: a draft allocates nothing);
 * work completed by an item that is not paid (processing, or failed through a partly reversed
 * transfer); and work completed by a paid item with a part still in an item that is processing.
 */
function unreceivedWork(organisationId: string, table: 'time_entries' | 'expenses', workType: 'time_entry' | 'expense'): SQL {
  const t = sql.raw(table);
  const columns = sql`${workType}::text as work_type, w.id, w.organisation_id, w.contributor_id, w.budget_id, w.date, w.amount, w.status, w.currency`;
  const approved = sql`w.status = 'approved' and w.amount > 0`;
  return sql`
    select ${columns} from ${t} w
     where w.organisation_id = ${organisationId} and w.payout_item_id is null and ${approved}
    union all
    select ${columns} from payout_items i
      join ${t} w on w.organisation_id = i.organisation_id and w.payout_item_id = i.id
     where i.organisation_id = ${organisationId} and i.status in ('processing', 'failed') and ${approved}
    union all
    select distinct ${columns} from payout_items i
      join payout_item_work a on a.organisation_id = i.organisation_id and a.item_id = i.id and a.work_type = ${workType}
      join ${t} w on w.organisation_id = a.organisation_id and w.id = a.work_id
      join payout_items done on done.organisation_id = w.organisation_id and done.id = w.payout_item_id and done.status = 'paid'
     where i.organisation_id = ${organisationId} and i.status = 'processing' and ${approved}`;
}

/**
 * How long people wait to be paid: per project and payment method, days from the work's date
 * to its approval and from approval to payment (median and 90th percentile), and the ageing of
 * the money people are still waiting for, with the contributors waiting longer than the
 * organisation's target.
 *
 * Days are between Europe/London calendar dates: the day of the approval and the day the item
 * that completed the entry's payment was marked paid are the UK dates of those moments (an
 * approval at 23:30 UTC in summer is the next day), and `today` is londonDate(now).
 *
 * What is aged: every approved time entry with money and every approved expense in the filter
 * (by the work's date, project and budget), for its amount less what payout items now `paid`
 * have paid of it (payout_item_work). So money owed, money in a draft's pending item, and money
 * in an approved item that is `processing` (on its way, or a manual payment not yet marked paid)
 * are all still waiting; a failed or canceled item's money is owed again. Each piece is aged in
 * whole days from the date of the work (the day the time was given or the money spent, as the
 * person waiting counts it) to `today`.
 */
export async function timeToPayReport(db: Db, organisationId: string, filter: ReportFilter, today: string) {
  const scope = workScope(organisationId, filter);
  const [org] = await db.select({ target: organisations.owedTargetDays }).from(organisations).where(eq(organisations.id, organisationId));
  const target = org?.target ?? 14;
  const pseudonym = await pseudonymiser(db, organisationId);

  const waits = await queryRows<{
    project_id: string;
    method: string;
    entries: string;
    to_approval_median: number | null;
    to_approval_p90: number | null;
    to_paid_median: number | null;
    to_paid_p90: number | null;
    paid_entries: string;
  }>(
    db,
    sql`
    with work as (
      select b.project_id, coalesce(i.method, c.payment_method) as method,
             (w.decided_at at time zone 'Europe/London')::date - w.date as to_approval,
             case when i.status = 'paid'
                  then (i.paid_at at time zone 'Europe/London')::date - (w.decided_at at time zone 'Europe/London')::date end as to_paid
        from time_entries w
        join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id
        join contributors c on c.organisation_id = w.organisation_id and c.id = w.contributor_id
        left join payout_items i on i.organisation_id = w.organisation_id and i.id = w.payout_item_id
       where ${scope} and w.amount > 0
    )
    select project_id, method, count(*) as entries,
           percentile_cont(0.5) within group (order by to_approval)::float8 as to_approval_median,
           percentile_cont(0.9) within group (order by to_approval)::float8 as to_approval_p90,
           percentile_cont(0.5) within group (order by to_paid)::float8 as to_paid_median,
           percentile_cont(0.9) within group (order by to_paid)::float8 as to_paid_p90,
           count(to_paid) as paid_entries
      from work group by project_id, method order by project_id, method`,
  );

  const owed = await queryRows<{ contributor_id: string; name: string; age: number; amount: string }>(
    db,
    sql`
    with waiting as materialized (
      select w.*
        from (
          ${unreceivedWork(organisationId, 'time_entries', 'time_entry')}
          union all
          ${unreceivedWork(organisationId, 'expenses', 'expense')}
        ) w
        join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id
       where ${scope}
    ), received as (
      -- What paid items have paid of it: a join the planner may make by hash when much is waiting.
      select a.work_type, a.work_id, sum(a.amount) as amount
        from waiting w
        join payout_item_work a on a.organisation_id = w.organisation_id and a.work_type = w.work_type and a.work_id = w.id
        join payout_items i on i.organisation_id = a.organisation_id and i.id = a.item_id
       where i.status = 'paid'
       group by a.work_type, a.work_id
    )
    select w.contributor_id, c.name, (${today}::date - w.date) as age, w.amount - coalesce(received.amount, 0) as amount
      from waiting w
      join contributors c on c.organisation_id = w.organisation_id and c.id = w.contributor_id
      left join received on received.work_type = w.work_type and received.work_id = w.id
     where w.amount > coalesce(received.amount, 0)`,
  );
  const ageing = AGE_BUCKETS.map(({ bucket, min, max }) => {
    const inBucket = owed.filter((o) => Number(o.age) >= min && Number(o.age) <= max);
    return { bucket, count: inBucket.length, amount: inBucket.reduce((s, o) => s + toSafeNumber(o.amount), 0) };
  });
  const longest = new Map<string, { contributorId: string; name: string; oldestDays: number; amount: number }>();
  for (const o of owed) {
    const entry = longest.get(o.contributor_id) ?? { contributorId: o.contributor_id, name: o.name, oldestDays: 0, amount: 0 };
    entry.oldestDays = Math.max(entry.oldestDays, Number(o.age));
    entry.amount += toSafeNumber(o.amount);
    longest.set(o.contributor_id, entry);
  }
  const owedPastTarget = [...longest.values()]
    .filter((c) => c.oldestDays > target)
    .sort((a, b) => b.oldestDays - a.oldestDays)
    .map((c) => ({ ...c, pseudonym: pseudonym(c.contributorId) }));

  const round1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    currency: filter.currency,
    targetDays: target,
    asOf: today,
    byProjectAndMethod: waits.map((w) => ({
      projectId: w.project_id,
      method: w.method,
      entries: Number(w.entries),
      paidEntries: Number(w.paid_entries),
      daysWorkToApproval: { median: round1(w.to_approval_median), p90: round1(w.to_approval_p90) },
      daysApprovalToPaid: { median: round1(w.to_paid_median), p90: round1(w.to_paid_p90) },
    })),
    owedAgeing: ageing,
    owedPastTarget,
  };
}
