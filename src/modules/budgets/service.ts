import { and, asc, eq, gt, sql, type SQL } from 'drizzle-orm';
import { organisationRow, type Db } from '../../db/client.js';
import { budgets, ledgerAccounts } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { budgetAvailableAccount, fundingAccount, transfer } from '../../domain/ledger.js';
import { formatMoney, toSafeNumber } from '../../domain/money.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import { lockAccounts, postTransaction } from '../ledger/service.js';
import { getProject } from '../projects/service.js';
import { getRateCardRow } from '../rate-cards/service.js';
import { toBudgetResponse, type BudgetResponse } from './views.js';

export type BudgetRow = typeof budgets.$inferSelect;

export interface BudgetFigures {
  /** amount plus adjustments: the money the budget holds in all. */
  total: number;
  adjustments: number;
  /** Approved earnings and expenses not reversed: owed, in transit or paid. */
  committed: number;
  owed: number;
  inTransit: number;
  paid: number;
  available: number;
}

/**
 * A budget's figures, all derived from the ledger: `available` is the budget's own account;
 * committed, owed, in transit and paid are the sums of its contributors' accounts.
 */
export async function budgetFigures(db: Db, organisationId: string, budget: BudgetRow): Promise<BudgetFigures> {
  const rows = await db
    .select({ type: ledgerAccounts.type, total: sql<string>`coalesce(sum(${ledgerAccounts.balance}), 0)` })
    .from(ledgerAccounts)
    .where(and(eq(ledgerAccounts.organisationId, organisationId), eq(ledgerAccounts.budgetId, budget.id)))
    .groupBy(ledgerAccounts.type);
  const by = (type: string) => toSafeNumber(rows.find((r) => r.type === type)?.total ?? 0);
  const available = by('budget_available');
  const owed = by('contributor_owed');
  const inTransit = by('contributor_in_transit');
  const paid = by('contributor_paid');
  const committed = owed + inTransit + paid;
  return { total: available + committed, adjustments: available + committed - budget.amount, committed, owed, inTransit, paid, available };
}


export interface NewBudget {
  projectId: string;
  name: string;
  funder: string;
  grantReference: string;
  currency: string;
  amount: number;
  startsOn: string;
  endsOn: string;
  rateCardId: string;
  allowOverspend?: boolean;
}

/**
 * Creates a budget and posts its amount from `funding` into the budget's account, in one
 * transaction. Errors: not_found (project or rate card, including another organisation's),
 * currency_mismatch (the rate card is in another currency).
 */
export async function createBudget(db: Db, organisationId: string, actor: Actor, input: NewBudget): Promise<BudgetResponse> {
  return inTransaction(db, async (tx) => {
    await getProject(tx, organisationId, input.projectId);
    const card = await getRateCardRow(tx, organisationId, input.rateCardId);
    if (card.currency !== input.currency) {
      throw new AppError('currency_mismatch', `The rate card is in ${card.currency} but the budget is in ${input.currency}.`);
    }
    const id = newId();
    const [row] = await tx
      .insert(budgets)
      .values({ organisationId, id, ...input, allowOverspend: input.allowOverspend ?? false })
      .returning();
    const available = budgetAvailableAccount(id, row!.allowOverspend);
    if (input.amount > 0) {
      await postTransaction(tx, organisationId, {
        type: 'budget_funding',
        referenceType: 'budget',
        referenceId: id,
        effectiveDate: input.startsOn,
        currency: input.currency,
        description: `${input.funder} ${input.grantReference}`,
        createdBy: actor.id,
        postings: transfer(fundingAccount(), available, input.amount),
      });
    } else {
      await lockAccounts(tx, organisationId, input.currency, [available]);
    }
    const view = toBudgetResponse(row!, await budgetFigures(tx, organisationId, row!));
    await recordAudit(tx, organisationId, actor, { action: 'budget.created', entityType: 'budget', entityId: id, after: view });
    return view;
  });
}

/** Errors: not_found. */
export function getBudgetRow(db: Db, organisationId: string, budgetId: string): Promise<BudgetRow> {
  return organisationRow(db, budgets, 'The budget', organisationId, budgetId);
}

export async function getBudget(db: Db, organisationId: string, budgetId: string): Promise<BudgetResponse> {
  const row = await getBudgetRow(db, organisationId, budgetId);
  return toBudgetResponse(row, await budgetFigures(db, organisationId, row));
}

export async function listBudgets(db: Db, organisationId: string, filter: { projectId?: string }, limit: number, afterId?: string) {
  const conditions: SQL[] = [eq(budgets.organisationId, organisationId)];
  if (filter.projectId) {
    if (!isUuid(filter.projectId)) return [];
    conditions.push(eq(budgets.projectId, filter.projectId));
  }
  if (afterId) conditions.push(gt(budgets.id, afterId));
  const rows = await db.select().from(budgets).where(and(...conditions)).orderBy(asc(budgets.id)).limit(limit + 1);
  return Promise.all(rows.map(async (row) => toBudgetResponse(row, await budgetFigures(db, organisationId, row))));
}

/**
 * Adds money to a budget (positive amount) or removes it (negative), as a ledger transaction
 * between `funding` and the budget. Removal never takes the budget below what is committed,
 * i.e. its available balance never goes below zero through an adjustment, even for a budget
 * that allows overspending. Errors: not_found, budget_below_committed.
 */
export async function adjustBudget(
  db: Db,
  organisationId: string,
  actor: Actor,
  budgetId: string,
  input: { amount: number; reason: string },
  today: string,
) {
  return inTransaction(db, async (tx) => {
    const budget = await getBudgetRow(tx, organisationId, budgetId);
    const account = budgetAvailableAccount(budget.id, budget.allowOverspend);
    const balances = await lockAccounts(tx, organisationId, budget.currency, [account]);
    const available = balances.get(account.code) ?? 0;
    if (input.amount < 0 && available + input.amount < 0) {
      throw new AppError(
        'budget_below_committed',
        `Only ${formatMoney(Math.max(0, available), budget.currency)} is not committed, so ${formatMoney(-input.amount, budget.currency)} cannot be removed.`,
        { available },
      );
    }
    const before = await budgetFigures(tx, organisationId, budget);
    const transactionId = await postTransaction(tx, organisationId, {
      type: 'budget_adjustment',
      referenceType: 'budget',
      referenceId: budget.id,
      effectiveDate: today,
      currency: budget.currency,
      description: input.reason,
      createdBy: actor.id,
      postings:
        input.amount > 0 ? transfer(fundingAccount(), account, input.amount) : transfer(account, fundingAccount(), -input.amount),
    });
    const view = toBudgetResponse(budget, await budgetFigures(tx, organisationId, budget));
    await recordAudit(tx, organisationId, actor, {
      action: 'budget.adjusted',
      entityType: 'budget',
      entityId: budget.id,
      before,
      after: { ...view, adjustment: { amount: input.amount, reason: input.reason, transactionId } },
    });
    return { adjustment: { transactionId, amount: input.amount, reason: input.reason }, budget: view };
  });
}
