/**
 * What submitting or deciding on work reads, in one statement instead of one per row: the rows
 * it locks (the contributor; for a decision the work row first, then the contributor, the
 * lifecycle's lock order) joined with what it only reads (the budget, its rate card's versions,
 * whether the contributor has an earnings limit at all, the organisation's settings).
 *
 * Only values that no race can make wrong travel this way. A scalar subquery in a locking
 * statement is evaluated with the statement's snapshot, taken before the lock is granted, so
 * anything that a rule holds under the lock (a contributor's minutes on a day, a budget's
 * balance before charging it) is read by a statement of its own after this one, as before.
 * What is read here only words warnings (the budget's balance before submitting), never
 * changes once written (rate-card versions), or is read without a lock anyway.
 *
 * Each returns null when a row is missing; the caller then asks the single-row readers, which
 * say which one is missing (not_found), so the error is exactly what it was.
 */
import { and, eq, sql } from 'drizzle-orm';
import { parsedJson, type Db } from '../../db/client.js';
import { budgets, contributors, expenses, ledgerAccounts, organisations, timeEntries } from '../../db/schema.js';
import type { EarningsLimitVersion } from '../../domain/earnings-limit.js';
import type { RateCardVersion } from '../../domain/rate-card.js';
import { isUuid } from '../../lib/ids.js';
import { preparedStatement } from '../../db/prepared.js';
import { resolveSettings, type Settings } from '../organisations/settings.js';
import type { BudgetRow } from '../budgets/service.js';
import { limitVersionsJson } from '../contributors/earnings-limits.js';
import type { ContributorRow } from '../contributors/service.js';
import { contributorLogins, recipientsOf, type ContributorLogin, type Recipient } from '../notifications/outbox.js';

/** The versions of the budget's rate card, oldest first, as loadVersions gives them. */
const rateCardVersionsOfBudget = sql<RateCardVersion[]>`(
  select coalesce(json_agg(json_build_object('id', v.id, 'version', v.version, 'effectiveFrom', v.effective_from, 'rates', v.rates) order by v.version), '[]'::json)
    from rate_card_versions v
   where v.organisation_id = ${budgets.organisationId} and v.rate_card_id = ${budgets.rateCardId})`;

/** The contributor's earnings-limit versions (none for most: then no forecast can warn). */
const earningsLimitVersions = limitVersionsJson(contributors.organisationId, contributors.id);

export interface SubmitContext {
  contributor: ContributorRow;
  budget: BudgetRow;
  /** The budget's available balance now (for warnings only; approval checks it under lock). */
  available: number;
  versions: RateCardVersion[];
  /** The contributor's earnings-limit versions, oldest first, read with the lock. */
  limitVersions: EarningsLimitVersion[];
}

const submitRead = preparedStatement('load_for_submit', (db) =>
  db
    .select({
      contributor: contributors,
      budget: budgets,
      available: sql<number | null>`(select ${ledgerAccounts.balance} from ${ledgerAccounts}
         where ${ledgerAccounts.organisationId} = ${budgets.organisationId}
           and ${ledgerAccounts.code} = 'budget:' || ${budgets.id}::text || ':available'
           and ${ledgerAccounts.currency} = ${budgets.currency})`.mapWith(ledgerAccounts.balance),
      versions: rateCardVersionsOfBudget,
      limitVersions: earningsLimitVersions,
    })
    .from(contributors)
    .innerJoin(budgets, and(eq(budgets.organisationId, contributors.organisationId), eq(budgets.id, sql.placeholder('budgetId'))))
    .where(and(eq(contributors.organisationId, sql.placeholder('organisationId')), eq(contributors.id, sql.placeholder('contributorId'))))
    .for('update', { of: contributors }),
);

/** For recording work: the contributor, locked, and the budget with its rate card. */
export async function loadForSubmit(tx: Db, organisationId: string, contributorId: string, budgetId: string): Promise<SubmitContext | null> {
  if (!isUuid(contributorId) || !isUuid(budgetId)) return null;
  const [row] = await submitRead(tx, { organisationId, contributorId, budgetId });
  if (!row) return null;
  return {
    contributor: row.contributor,
    budget: row.budget,
    available: row.available ?? 0,
    versions: parsedJson<RateCardVersion[]>(row.versions),
    limitVersions: parsedJson<EarningsLimitVersion[]>(row.limitVersions),
  };
}

type WorkTable = typeof timeEntries | typeof expenses;

export interface DecisionContext<Row> {
  work: Row;
  contributor: ContributorRow;
  budget: BudgetRow;
  settings: Settings;
  /** The budget's rate card's versions, for time (which is priced again); null for expenses. */
  versions: RateCardVersion[] | null;
  /** The contributor's earnings-limit versions, oldest first, read with the lock. */
  limitVersions: EarningsLimitVersion[];
  /** Who hears of the approval: for time, from the same read; null for expenses. */
  recipients: Recipient[] | null;
}

/**
 * The decision's read over one table of work: both tables carry the lifecycle's columns under the
 * same names, which drizzle cannot see through their union, so each is built as if over time.
 */
const decisionRead = (name: string, table: WorkTable, forTime: boolean) =>
  preparedStatement(name, (db) => {
    const work = table as typeof timeEntries;
    return db
      .select({
        work,
        contributor: contributors,
        budget: budgets,
        settings: sql<unknown>`(select ${organisations.settings} from ${organisations} where ${organisations.id} = ${work.organisationId})`,
        versions: forTime ? rateCardVersionsOfBudget : sql<null>`null`,
        limitVersions: earningsLimitVersions,
        logins: forTime ? contributorLogins : sql<null>`null`,
      })
      .from(work)
      .innerJoin(contributors, and(eq(contributors.organisationId, work.organisationId), eq(contributors.id, work.contributorId)))
      .innerJoin(budgets, and(eq(budgets.organisationId, work.organisationId), eq(budgets.id, work.budgetId)))
      .where(and(eq(work.organisationId, sql.placeholder('organisationId')), eq(work.id, sql.placeholder('id'))))
      .for('update', { of: [work, contributors] });
  });

const timeDecisionRead = decisionRead('load_time_entry_for_decision', timeEntries, true);
const expenseDecisionRead = decisionRead('load_expense_for_decision', expenses, false);

/**
 * For approving work: the work row and its contributor, both locked (the work row first), the
 * budget, the organisation's settings and, for time, the rate card's versions.
 */
export async function loadForDecision<Row>(tx: Db, table: WorkTable, organisationId: string, id: string): Promise<DecisionContext<Row> | null> {
  if (!isUuid(id)) return null;
  const forTime = table === timeEntries;
  const [row] = await (forTime ? timeDecisionRead : expenseDecisionRead)(tx, { organisationId, id });
  if (!row) return null;
  return {
    work: row.work as Row,
    contributor: row.contributor,
    budget: row.budget,
    settings: resolveSettings(parsedJson(row.settings)),
    versions: forTime ? parsedJson<RateCardVersion[]>(row.versions) : null,
    limitVersions: parsedJson<EarningsLimitVersion[]>(row.limitVersions),
    recipients: forTime ? recipientsOf(row.contributor.id, row.contributor.email, parsedJson<ContributorLogin[]>(row.logins)) : null,
  };
}
