/**
 * Contributors' earnings limits as dated versions (see domain/earnings-limit.ts for how a
 * payment is judged by them). Versions are only ever added: a change is a new row from a date,
 * so a statement for a past period shows the limit that was in force then.
 */
import { and, asc, between, eq, inArray, sql, type SQLWrapper } from 'drizzle-orm';
import { queryRows, sumOf, type Db } from '../../db/client.js';
import { allAnswered } from '../../db/pipelined-transactions.js';
import { preparedStatement } from '../../db/prepared.js';
import { earningsLimitVersions, ledgerAccounts, payoutItems } from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { limitOn, periodOf, planPayment, type EarningsLimit, type EarningsLimitVersion } from '../../domain/earnings-limit.js';
import { formatMoney, toSafeNumber } from '../../domain/money.js';
import { recordAudit } from '../../lib/audit.js';
import { newId } from '../../lib/ids.js';
import type { EarningsLimitInput, EarningsLimitVersionInput } from './schemas.js';

type VersionRow = typeof earningsLimitVersions.$inferSelect;

export function toLimitVersion(row: VersionRow): EarningsLimitVersion & { id: string; createdAt: string } {
  return {
    id: row.id,
    effectiveFrom: row.effectiveFrom,
    period: row.period,
    amount: row.amount,
    periodStartDay: row.periodStartDay,
    policy: row.policy,
    preset: row.preset,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Each contributor's versions, oldest first (of two from one day, the later added last). */
/** The limit versions of some contributors, oldest first (built once: every balance read asks). */
const limitVersionsOf = preparedStatement('earnings_limit_versions_of', (db) =>
  db
    .select()
    .from(earningsLimitVersions)
    .where(
      and(
        eq(earningsLimitVersions.organisationId, sql.placeholder('organisationId')),
        sql`${earningsLimitVersions.contributorId} = any(${sql.placeholder('contributorIds')}::uuid[])`,
      ),
    )
    .orderBy(asc(earningsLimitVersions.effectiveFrom), asc(earningsLimitVersions.id)),
);

export async function loadLimitVersions(db: Db, organisationId: string, contributorIds: string[]) {
  const byContributor = new Map<string, ReturnType<typeof toLimitVersion>[]>();
  if (!contributorIds.length) return byContributor;
  const rows = await limitVersionsOf(db, { organisationId, contributorIds });
  for (const row of rows) {
    const list = byContributor.get(row.contributorId) ?? [];
    list.push(toLimitVersion(row));
    byContributor.set(row.contributorId, list);
  }
  return byContributor;
}

/**
 * A contributor's limit versions as a JSON array inside another statement, oldest first as
 * `loadLimitVersions` orders them, with the fields `limitOn` reads. For reads that already find
 * the contributor and would otherwise read the versions in a statement of their own.
 */
export const limitVersionsJson = (organisationId: SQLWrapper, contributorId: SQLWrapper) =>
  sql<EarningsLimitVersion[]>`(
    select coalesce(json_agg(json_build_object(
             'effectiveFrom', v.effective_from, 'period', v.period, 'amount', v.amount,
             'periodStartDay', v.period_start_day, 'policy', v.policy, 'preset', v.preset) order by v.effective_from, v.id), '[]')
      from ${earningsLimitVersions} v
     where v.organisation_id = ${organisationId} and v.contributor_id = ${contributorId})`;

/** One contributor's limit in force on a date, or null. */
export async function limitInForce(db: Db, organisationId: string, contributorId: string, date: string): Promise<EarningsLimit | null> {
  return limitOn((await loadLimitVersions(db, organisationId, [contributorId])).get(contributorId) ?? [], date);
}

/** The shape a version is stored in, from either way of writing one. */
function versionColumns(input: EarningsLimitVersionInput) {
  if ('preset' in input) {
    return { period: 'week' as const, amount: null, periodStartDay: input.periodStartDay, policy: input.policy, preset: input.preset };
  }
  if (input.amount === null) return { period: null, amount: null, periodStartDay: null, policy: null, preset: null };
  return { period: input.period, amount: input.amount, periodStartDay: input.periodStartDay, policy: input.policy, preset: null };
}

/** A contributor's limit as written on the contributor (create or PATCH), from a date. */
export const limitAsVersion = (limit: EarningsLimitInput | null, effectiveFrom: string): EarningsLimitVersionInput =>
  limit ? { effectiveFrom, ...limit } : { effectiveFrom, amount: null };

/** Adds a version, in the caller's transaction, and records it. The contributor must exist. */
export async function addLimitVersion(tx: Db, organisationId: string, actor: Actor, contributorId: string, input: EarningsLimitVersionInput) {
  const [row] = await tx
    .insert(earningsLimitVersions)
    .values({ organisationId, id: newId(), contributorId, effectiveFrom: input.effectiveFrom, ...versionColumns(input), createdBy: actor.id })
    .returning();
  const version = toLimitVersion(row!);
  await recordAudit(tx, organisationId, actor, { action: 'contributor.earnings_limit_added', entityType: 'contributor', entityId: contributorId, after: version });
  return version;
}

/** A piece of owed earnings: an approved entry's money not yet taken by a live payout item. */
export interface EarningsPiece {
  contributorId: string;
  budgetId: string;
  amount: number;
}

/**
 * Approved earnings not yet paid, per entry, oldest work first: the entry's amount less what
 * processing or paid items have taken of it. Only for the contributors named.
 */
export async function owedEarningsPieces(db: Db, organisationId: string, currency: string, contributorIds: string[], budgetId?: string) {
  if (!contributorIds.length) return [];
  const rows = await queryRows<{ contributor_id: string; budget_id: string; remaining: string }>(db, sql`
    select w.contributor_id, w.budget_id, w.amount - coalesce(taken.amount, 0) as remaining
      from time_entries w
      left join lateral (
        select sum(a.amount) as amount
          from payout_item_work a
          join payout_items i on i.organisation_id = a.organisation_id and i.id = a.item_id
         where a.organisation_id = w.organisation_id and a.work_type = 'time_entry' and a.work_id = w.id
           and i.status in ('processing', 'paid')
      ) taken on true
     where w.organisation_id = ${organisationId}
       and w.contributor_id in (select jsonb_array_elements_text(${JSON.stringify(contributorIds)}::jsonb)::uuid)
       and w.status = 'approved' and w.currency = ${currency} and w.amount > 0
       ${budgetId ? sql`and w.budget_id = ${budgetId}` : sql``}
       and w.amount > coalesce(taken.amount, 0)
     order by w.contributor_id, w.date, w.id`);
  return rows.map((r): EarningsPiece => ({ contributorId: r.contributor_id, budgetId: r.budget_id, amount: toSafeNumber(r.remaining) }));
}

/**
 * Earnings that count against a limit between two dates: paid, or approved and on its way
 * (processing), by the Europe/London date the money counts as received. Drafts do not count.
 */
export function earningsCountedBetween(db: Db, organisationId: string, contributorId: string, currency: string, from: string, to: string) {
  const counted = [inArray(payoutItems.status, ['processing', 'paid']), between(payoutItems.paymentDate, from, to)];
  return sumOf(db, payoutItems, payoutItems.earnings, theirs(payoutItems, organisationId, contributorId, currency), ...counted);
}

/** What a contributor is owed in earnings now, in one currency. */
export function earningsOwed(db: Db, organisationId: string, contributorId: string, currency: string) {
  const owedEarnings = [eq(ledgerAccounts.type, 'contributor_owed'), eq(ledgerAccounts.component, 'earnings')];
  return sumOf(db, ledgerAccounts, ledgerAccounts.balance, theirs(ledgerAccounts, organisationId, contributorId, currency), ...owedEarnings);
}

/** A contributor's rows of money in one currency: their payout items or ledger accounts. */
function theirs(table: typeof payoutItems | typeof ledgerAccounts, organisationId: string, contributorId: string, currency: string) {
  return and(eq(table.organisationId, organisationId), eq(table.contributorId, contributorId), eq(table.currency, currency))!;
}

/**
 * The limit in force today (Europe/London), its current period, the earnings that count in it,
 * what is owed in earnings, and the headroom left; null without a limit. With `withPieces`, also
 * what is owed piece by piece (owedEarningsPieces), read with the rest. `known` is the limit in
 * force today where the caller has read it already.
 */
async function standingToday(
  db: Db,
  organisationId: string,
  contributorId: string,
  currency: string,
  today: string,
  withPieces = false,
  known?: { limit: EarningsLimit | null },
) {
  const limit = known ? known.limit : await limitInForce(db, organisationId, contributorId, today);
  if (!limit) return null;
  const period = periodOf(limit, today);
  // Sent together (one round trip on PostgreSQL): none needs another's answer.
  const [counted, owed, pieces] = await allAnswered([
    earningsCountedBetween(db, organisationId, contributorId, currency, period.start, period.end),
    earningsOwed(db, organisationId, contributorId, currency),
    withPieces ? owedEarningsPieces(db, organisationId, currency, [contributorId]) : undefined,
  ]);
  return { limit, period, counted, owed, pieces: pieces ?? [], headroom: Math.max(0, limit.amount - counted) };
}

/**
 * Approval only forecasts: a warning when what the contributor would then be owed in earnings
 * does not fit what is left of the current period's limit (Europe/London `today`), saying what
 * the payout run will do with the rest. Never refuses. `known` is the limit in force today where
 * the caller has read the contributor's versions already.
 */
export async function limitForecast(
  db: Db,
  organisationId: string,
  contributorId: string,
  currency: string,
  amount: number,
  today: string,
  known?: { limit: EarningsLimit | null },
): Promise<string[]> {
  if (amount <= 0) return [];
  const standing = await standingToday(db, organisationId, contributorId, currency, today, false, known);
  if (!standing) return [];
  const { limit, period, owed, headroom } = standing;
  if (owed + amount <= headroom) return [];
  const money = (n: number) => formatMoney(n, currency);
  const what = limit.period === 'week' ? 'week' : 'period';
  const then = {
    block: `the payout run will hold what does not fit and pay it from ${period.nextStart}`,
    split: `the payout run will pay up to the limit and the rest from ${period.nextStart}`,
    warn: 'the payout run will pay it all and flag it (policy: warn)',
  }[limit.policy];
  return [
    `With this, ${money(owed + amount)} of earnings would be owed, but only ${money(headroom)} of this ${what}'s ${money(limit.amount)} earnings limit is left (until ${period.end}): ${then}.`,
  ];
}

/**
 * Where a contributor stands against the limit in force today (Europe/London): the current
 * period, what already counts in it, what is left, and how much of what they are owed in
 * earnings is more than that (a payout run now would hold or carry it, or under `warn` pay
 * and flag it). Null without a limit. For the participant's page and for finance. `known` is
 * the limit in force today where the caller has read the contributor's versions already.
 */
export async function limitPosition(
  db: Db,
  organisationId: string,
  contributorId: string,
  currency: string,
  today: string,
  known?: { limit: EarningsLimit | null },
) {
  const standing = await standingToday(db, organisationId, contributorId, currency, today, true, known);
  if (!standing) return null;
  const { limit, period, counted, owed, headroom } = standing;
  const plan = planPayment(limit, counted, standing.pieces.map((p) => ({ key: p.budgetId, amount: p.amount })));
  return {
    period: limit.period,
    amount: limit.amount,
    policy: limit.policy,
    from: period.start,
    to: period.end,
    earningsCounted: counted,
    headroom,
    owedOverHeadroom: Math.max(0, owed - headroom),
    heldIfPaidToday: plan.held + plan.carriedForward,
    payableFrom: period.nextStart,
  };
}
