import { createHmac } from 'node:crypto';
import { eq, sql, type SQL } from 'drizzle-orm';
import { queryRows, type Db } from '../../db/client.js';
import { organisations } from '../../db/schema.js';
import { contributorKinds, isLivedExperience, type ContributorKind } from '../../domain/enums.js';
import { roundHalfUpDiv, toSafeNumber } from '../../domain/money.js';
import { notFound } from '../../errors.js';
import { isUuid } from '../../lib/ids.js';
import { budgetFigures, getBudgetRow } from '../budgets/service.js';
import { toBudgetResponse } from '../budgets/views.js';

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
  const parts: SQL[] = [sql`w.organisation_id = ${organisationId}`, sql`w.status = 'approved'`, sql`w.currency = ${f.currency}`];
  if (f.projectId) parts.push(isUuid(f.projectId) ? sql`b.project_id = ${f.projectId}` : sql`false`);
  if (f.budgetId) parts.push(isUuid(f.budgetId) ? sql`w.budget_id = ${f.budgetId}` : sql`false`);
  if (f.from) parts.push(sql`w.date >= ${f.from}`);
  if (f.to) parts.push(sql`w.date <= ${f.to}`);
  return sql.join(parts, sql` and `);
}

/** Conditions on contributors' paid accounts (alias a, budgets b) for the filter's project and budget. */
function paidAccountScope(organisationId: string, f: ReportFilter): SQL {
  const parts: SQL[] = [sql`a.organisation_id = ${organisationId}`, sql`a.type = 'contributor_paid'`, sql`a.currency = ${f.currency}`];
  if (f.projectId) parts.push(isUuid(f.projectId) ? sql`b.project_id = ${f.projectId}` : sql`false`);
  if (f.budgetId) parts.push(isUuid(f.budgetId) ? sql`a.budget_id = ${f.budgetId}` : sql`false`);
  return sql.join(parts, sql` and `);
}

/** Conditions on paid-ledger postings (alias p, accounts a, budgets b, transactions t) for the filter. */
function paidScope(organisationId: string, f: ReportFilter): SQL {
  const parts: SQL[] = [paidAccountScope(organisationId, f), sql`p.organisation_id = ${organisationId}`, sql`p.currency = ${f.currency}`];
  if (f.from) parts.push(sql`t.effective_date >= ${f.from}`);
  if (f.to) parts.push(sql`t.effective_date <= ${f.to}`);
  return sql.join(parts, sql` and `);
}

const rows = queryRows;

export interface Group {
  contributors: number;
  minutes: number;
  earned: number;
  paid: number;
  expenses: number;
  inKindValue: number;
  declinedValue: number;
  /** earned per hour of the paid time (excluding in-kind and declined), minor units, half up. */
  effectiveHourlyRate: number;
}

interface Totals {
  contributorIds: Set<string>;
  minutes: bigint;
  paidMinutes: bigint;
  earned: bigint;
  paid: bigint;
  expenses: bigint;
  inKindValue: bigint;
  declinedValue: bigint;
}

const emptyTotals = (): Totals => ({
  contributorIds: new Set(),
  minutes: 0n,
  paidMinutes: 0n,
  earned: 0n,
  paid: 0n,
  expenses: 0n,
  inKindValue: 0n,
  declinedValue: 0n,
});

function toGroup(t: Totals): Group {
  return {
    contributors: t.contributorIds.size,
    minutes: toSafeNumber(t.minutes),
    earned: toSafeNumber(t.earned),
    paid: toSafeNumber(t.paid),
    expenses: toSafeNumber(t.expenses),
    inKindValue: toSafeNumber(t.inKindValue),
    declinedValue: toSafeNumber(t.declinedValue),
    effectiveHourlyRate: t.paidMinutes > 0n ? toSafeNumber(roundHalfUpDiv(t.earned * 60n, t.paidMinutes)) : 0,
  };
}

function merge(into: Totals, from: Totals) {
  for (const id of from.contributorIds) into.contributorIds.add(id);
  into.minutes += from.minutes;
  into.paidMinutes += from.paidMinutes;
  into.earned += from.earned;
  into.paid += from.paid;
  into.expenses += from.expenses;
  into.inKindValue += from.inKindValue;
  into.declinedValue += from.declinedValue;
}

/** A fraction 0–1, or 0 when there is nothing to share. Not money, so a float is right here. */
const share = (part: bigint, whole: bigint): number => (whole === 0n ? 0 : Number((part * 1_000_000n) / whole) / 1_000_000);


/**
 * How money and time were shared between lived-experience contributors (lived_experience and
 * carer) and professionals, over approved work dated in the range, and the money paid in it.
 */
export async function distributionReport(db: Db, organisationId: string, filter: ReportFilter) {
  const scope = workScope(organisationId, filter);
  // Work is joined to its budget only to filter by project: each entry has exactly one budget
  // (a foreign key), so the join changes nothing else, and over a million entries the unneeded
  // hash join was a sixth of the report's time. (The paid postings keep theirs: there the
  // planner reaches the postings through the budgets' accounts, far faster than a scan of them.)
  const budgetOfWork = filter.projectId ? sql`join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id` : sql``;
  // Money paid over all time is the paid accounts' cached balances (kept equal to the sum of
  // their postings by the posting trigger); only a date range needs the postings themselves.
  const paidEver = !filter.from && !filter.to;
  const perContributor = await rows<{
    kind: ContributorKind;
    contributor_id: string;
    minutes: string;
    paid_minutes: string;
    earned: string;
    in_kind: string;
    declined: string;
    expenses: string;
    paid: string;
  }>(
    db,
    sql`
    with work as (
      select w.contributor_id, sum(w.minutes) as minutes,
             sum(case when w.in_kind or w.declined then 0 else w.minutes end) as paid_minutes,
             sum(w.amount) as earned,
             sum(case when w.in_kind then w.value else 0 end) as in_kind,
             sum(case when w.declined then w.value else 0 end) as declined
        from time_entries w ${budgetOfWork}
       where ${scope}
       group by w.contributor_id
    ), spent as (
      select w.contributor_id, sum(w.amount) as expenses
        from expenses w ${budgetOfWork}
       where ${scope}
       group by w.contributor_id
    ), paid as (${
      paidEver
        ? sql`
      select a.contributor_id, sum(a.balance) as paid
        from ledger_accounts a
        join budgets b on b.organisation_id = a.organisation_id and b.id = a.budget_id
       where ${paidAccountScope(organisationId, filter)} and a.component = 'earnings'
       group by a.contributor_id`
        : sql`
      select a.contributor_id, sum(p.amount) as paid
        from ledger_postings p
        join ledger_accounts a on a.organisation_id = p.organisation_id and a.code = p.account and a.currency = p.currency
        join budgets b on b.organisation_id = a.organisation_id and b.id = a.budget_id
        join ledger_transactions t on t.organisation_id = p.organisation_id and t.id = p.transaction_id
       where ${paidScope(organisationId, filter)} and a.component = 'earnings'
       group by a.contributor_id`
    }
    ), ids as (
      select contributor_id from work union select contributor_id from spent union select contributor_id from paid
    )
    select c.kind, ids.contributor_id,
           coalesce(work.minutes, 0) as minutes, coalesce(work.paid_minutes, 0) as paid_minutes,
           coalesce(work.earned, 0) as earned, coalesce(work.in_kind, 0) as in_kind,
           coalesce(work.declined, 0) as declined, coalesce(spent.expenses, 0) as expenses,
           coalesce(paid.paid, 0) as paid
      from ids
      join contributors c on c.organisation_id = ${organisationId} and c.id = ids.contributor_id
      left join work on work.contributor_id = ids.contributor_id
      left join spent on spent.contributor_id = ids.contributor_id
      left join paid on paid.contributor_id = ids.contributor_id`,
  );

  const byKind = new Map<ContributorKind, Totals>(contributorKinds.map((k) => [k, emptyTotals()]));
  for (const r of perContributor) {
    const t = byKind.get(r.kind)!;
    const earned = BigInt(r.earned);
    const expenses = BigInt(r.expenses);
    const minutes = BigInt(r.minutes);
    if (minutes > 0n || expenses > 0n || BigInt(r.paid) > 0n) t.contributorIds.add(r.contributor_id);
    t.minutes += minutes;
    t.paidMinutes += BigInt(r.paid_minutes);
    t.earned += earned;
    t.expenses += expenses;
    t.inKindValue += BigInt(r.in_kind);
    t.declinedValue += BigInt(r.declined);
    t.paid += BigInt(r.paid);
  }
  const lived = emptyTotals();
  const professional = emptyTotals();
  for (const [kind, t] of byKind) merge(isLivedExperience(kind) ? lived : professional, t);
  const all = emptyTotals();
  merge(all, lived);
  merge(all, professional);
  return {
    currency: filter.currency,
    filters: { projectId: filter.projectId ?? null, budgetId: filter.budgetId ?? null, from: filter.from ?? null, to: filter.to ?? null },
    groups: { livedExperience: toGroup(lived), professional: toGroup(professional) },
    byKind: contributorKinds.map((kind) => ({ kind, ...toGroup(byKind.get(kind)!) })),
    livedExperienceShareOfMoney: share(lived.earned, all.earned),
    livedExperienceShareOfHours: share(lived.minutes, all.minutes),
  };
}

/**
 * The grant report of one budget: its figures from the ledger; spend by activity, by
 * contributor kind and by month; and a line per contributor under a pseudonym.
 */
export async function grantReport(db: Db, organisationId: string, budgetId: string) {
  const budget = await getBudgetRow(db, organisationId, budgetId);
  const figures = await budgetFigures(db, organisationId, budget);
  const pseudonym = await pseudonymiser(db, organisationId);
  const scope = workScope(organisationId, { budgetId, currency: budget.currency });

  const byActivity = await rows<{ activity: string; minutes: string; earned: string; in_kind: string; declined: string }>(
    db,
    sql`select w.activity, sum(w.minutes) as minutes, sum(w.amount) as earned,
               sum(case when w.in_kind then w.value else 0 end) as in_kind,
               sum(case when w.declined then w.value else 0 end) as declined
          from time_entries w join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id
         where ${scope} group by w.activity order by w.activity`,
  );
  const lines = await rows<{ contributor_id: string; kind: ContributorKind; minutes: string; earned: string; in_kind: string; declined: string; expenses: string; paid: string }>(
    db,
    sql`
    with work as (
      select w.contributor_id, sum(w.minutes) as minutes, sum(w.amount) as earned,
             sum(case when w.in_kind then w.value else 0 end) as in_kind,
             sum(case when w.declined then w.value else 0 end) as declined
        from time_entries w join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id
       where ${scope} group by w.contributor_id
    ), spent as (
      select w.contributor_id, sum(w.amount) as expenses
        from expenses w join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id
       where ${scope} group by w.contributor_id
    ), paid as (
      select contributor_id, sum(balance) as paid from ledger_accounts
       where organisation_id = ${organisationId} and budget_id = ${budgetId} and type = 'contributor_paid'
       group by contributor_id
    ), ids as (select contributor_id from work union select contributor_id from spent union select contributor_id from paid)
    select ids.contributor_id, c.kind, coalesce(work.minutes, 0) as minutes, coalesce(work.earned, 0) as earned,
           coalesce(work.in_kind, 0) as in_kind, coalesce(work.declined, 0) as declined,
           coalesce(spent.expenses, 0) as expenses, coalesce(paid.paid, 0) as paid
      from ids join contributors c on c.organisation_id = ${organisationId} and c.id = ids.contributor_id
      left join work using (contributor_id) left join spent using (contributor_id) left join paid using (contributor_id)`,
  );
  const byMonth = await rows<{ month: string; minutes: string; earned: string; lived_earned: string; professional_earned: string; expenses: string }>(
    db,
    sql`
    with work as (
      select to_char(w.date, 'YYYY-MM') as month, sum(w.minutes) as minutes, sum(w.amount) as earned,
             sum(case when c.kind = 'professional' then 0 else w.amount end) as lived_earned,
             sum(case when c.kind = 'professional' then w.amount else 0 end) as professional_earned
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
    }))
    .sort((a, b) => a.pseudonym.localeCompare(b.pseudonym));
  const byKind = contributorKinds.map((kind) => {
    const of = contributorLines.filter((l) => l.kind === kind);
    return {
      kind,
      contributors: of.length,
      minutes: of.reduce((s, l) => s + l.minutes, 0),
      earned: of.reduce((s, l) => s + l.earned, 0),
      expenses: of.reduce((s, l) => s + l.expenses, 0),
      inKindValue: of.reduce((s, l) => s + l.inKindValue, 0),
      declinedValue: of.reduce((s, l) => s + l.declinedValue, 0),
    };
  });
  const livedEarned = BigInt(byKind.filter((k) => isLivedExperience(k.kind)).reduce((s, k) => s + k.earned, 0));
  const totalEarned = BigInt(byKind.reduce((s, k) => s + k.earned, 0));
  const view = toBudgetResponse(budget, figures);
  return {
    budget: view,
    committed: figures.committed,
    paid: figures.paid,
    inTransit: figures.inTransit,
    owed: figures.owed,
    available: figures.available,
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
export type GrantReport = Awaited<ReturnType<typeof grantReport>>;

const AGE_BUCKETS = [
  { bucket: '0-14', min: 0, max: 14 },
  { bucket: '15-30', min: 15, max: 30 },
  { bucket: '31-60', min: 31, max: 60 },
  { bucket: '60+', min: 61, max: Number.MAX_SAFE_INTEGER },
] as const;

/**
 * How long people wait to be paid: per project and payment method, days from the work's date
 * to its approval and from approval to payment (median and 90th percentile), and the ageing of
 * what is owed now (counted from the date of the work, as the person waiting counts it), with
 * the contributors owed longer than the organisation's target.
 */
export async function timeToPayReport(db: Db, organisationId: string, filter: ReportFilter, today: string) {
  const scope = workScope(organisationId, filter);
  const [org] = await db.select({ target: organisations.owedTargetDays }).from(organisations).where(eq(organisations.id, organisationId));
  const target = org?.target ?? 14;
  const pseudonym = await pseudonymiser(db, organisationId);

  const waits = await rows<{
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
             (w.decided_at at time zone 'UTC')::date - w.date as to_approval,
             case when i.status = 'paid' then (i.paid_at at time zone 'UTC')::date - (w.decided_at at time zone 'UTC')::date end as to_paid
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

  const owed = await rows<{ contributor_id: string; name: string; age: number; amount: string }>(
    db,
    sql`
    select w.contributor_id, c.name, (${today}::date - w.date) as age, w.amount
      from (
        select w.organisation_id, w.contributor_id, w.budget_id, w.date, w.amount, w.status, w.currency
          from time_entries w where w.organisation_id = ${organisationId} and w.payout_item_id is null and w.amount > 0
        union all
        select w.organisation_id, w.contributor_id, w.budget_id, w.date, w.amount, w.status, w.currency
          from expenses w where w.organisation_id = ${organisationId} and w.payout_item_id is null
      ) w
      join budgets b on b.organisation_id = w.organisation_id and b.id = w.budget_id
      join contributors c on c.organisation_id = w.organisation_id and c.id = w.contributor_id
     where ${scope}`,
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
