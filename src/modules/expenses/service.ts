import { and, asc, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { contributors, expenses } from '../../db/schema.js';
import type { EntryStatus } from '../../domain/enums.js';
import { inTransaction } from '../../db/tx.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import type { Principal } from '../../domain/actor.js';
import { getBudgetRow } from '../budgets/service.js';
import { reverseTransaction } from '../ledger/service.js';
import { assertNotSelf, assertStatus, assertStillOwed, chargeBudget } from '../work/charge.js';

type ExpenseRow = typeof expenses.$inferSelect;

export function expenseView(row: ExpenseRow) {
  return {
    id: row.id,
    contributorId: row.contributorId,
    budgetId: row.budgetId,
    category: row.category,
    amount: row.amount,
    currency: row.currency,
    date: row.date,
    receiptReference: row.receiptReference,
    note: row.note,
    status: row.status,
    rejectionReason: row.rejectionReason,
    reversalReason: row.reversalReason,
    ledgerTransactionId: row.ledgerTransactionId,
    reversalTransactionId: row.reversalTransactionId,
    decidedAt: row.decidedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}
export type ExpenseView = ReturnType<typeof expenseView>;

export interface NewExpense {
  contributorId: string;
  budgetId: string;
  category: ExpenseRow['category'];
  amount: number;
  date: string;
  receiptReference?: string;
  note?: string;
}

/**
 * Records an expense claim (a reimbursement, never earnings). Errors: not_found (contributor,
 * budget), outside_budget_period.
 */
export async function submitExpense(db: Db, organisationId: string, actor: Actor, input: NewExpense): Promise<ExpenseView> {
  return inTransaction(db, async (tx) => {
    if (!isUuid(input.contributorId)) throw notFound('The contributor');
    const [contributor] = await tx
      .select({ id: contributors.id })
      .from(contributors)
      .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, input.contributorId)));
    if (!contributor) throw notFound('The contributor');
    const budget = await getBudgetRow(tx, organisationId, input.budgetId);
    if (input.date < budget.startsOn || input.date > budget.endsOn) {
      throw new AppError(
        'outside_budget_period',
        `${input.date} is outside the budget "${budget.name}", which runs from ${budget.startsOn} to ${budget.endsOn}.`,
      );
    }
    const [row] = await tx
      .insert(expenses)
      .values({
        organisationId,
        id: newId(),
        contributorId: input.contributorId,
        budgetId: budget.id,
        category: input.category,
        amount: input.amount,
        currency: budget.currency,
        date: input.date,
        receiptReference: input.receiptReference ?? null,
        note: input.note ?? null,
        submittedBy: actor.id,
      })
      .returning();
    const view = expenseView(row!);
    await recordAudit(tx, organisationId, actor, { action: 'expense.submitted', entityType: 'expense', entityId: view.id, after: view });
    return view;
  });
}

async function lockExpense(tx: Db, organisationId: string, expenseId: string): Promise<ExpenseRow> {
  if (!isUuid(expenseId)) throw notFound('The expense');
  const [row] = await tx
    .select()
    .from(expenses)
    .where(and(eq(expenses.organisationId, organisationId), eq(expenses.id, expenseId)))
    .for('update');
  if (!row) throw notFound('The expense');
  return row;
}

async function lockContributorRow(tx: Db, organisationId: string, contributorId: string) {
  await tx
    .select({ id: contributors.id })
    .from(contributors)
    .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)))
    .for('update');
}

/**
 * Approves an expense: its amount becomes owed as expenses (never earnings, never counted
 * towards an earnings limit). Locks the expense, the contributor, then ledger accounts.
 * Errors: not_found, invalid_state, self_approval_forbidden, budget_exceeded.
 */
export async function approveExpense(db: Db, organisationId: string, principal: Principal, actor: Actor, expenseId: string, now: Date) {
  return inTransaction(db, async (tx) => {
    const expense = await lockExpense(tx, organisationId, expenseId);
    assertStatus('expense', expense.status, 'submitted');
    assertNotSelf(principal, expense.contributorId);
    await lockContributorRow(tx, organisationId, expense.contributorId);
    const budget = await getBudgetRow(tx, organisationId, expense.budgetId);
    const ledgerTransactionId = await chargeBudget(tx, organisationId, {
      budget,
      contributorId: expense.contributorId,
      component: 'expenses',
      amount: expense.amount,
      referenceType: 'expense',
      referenceId: expense.id,
      effectiveDate: expense.date,
      createdBy: actor.id,
    });
    const [row] = await tx
      .update(expenses)
      .set({ status: 'approved', decidedBy: actor.id, decidedAt: now, ledgerTransactionId })
      .where(and(eq(expenses.organisationId, organisationId), eq(expenses.id, expense.id)))
      .returning();
    const view = expenseView(row!);
    await recordAudit(tx, organisationId, actor, { action: 'expense.approved', entityType: 'expense', entityId: expense.id, before: expenseView(expense), after: view });
    return view;
  });
}

/** Errors: not_found, invalid_state, self_approval_forbidden. */
export async function rejectExpense(
  db: Db,
  organisationId: string,
  principal: Principal,
  actor: Actor,
  expenseId: string,
  reason: string,
  now: Date,
) {
  return inTransaction(db, async (tx) => {
    const expense = await lockExpense(tx, organisationId, expenseId);
    assertStatus('expense', expense.status, 'submitted');
    assertNotSelf(principal, expense.contributorId);
    const [row] = await tx
      .update(expenses)
      .set({ status: 'rejected', rejectionReason: reason, decidedBy: actor.id, decidedAt: now })
      .where(and(eq(expenses.organisationId, organisationId), eq(expenses.id, expense.id)))
      .returning();
    const view = expenseView(row!);
    await recordAudit(tx, organisationId, actor, { action: 'expense.rejected', entityType: 'expense', entityId: expense.id, before: expenseView(expense), after: view });
    return view;
  });
}

/** Errors: not_found, invalid_state (not approved), already_paid. */
export async function reverseExpense(db: Db, organisationId: string, actor: Actor, expenseId: string, reason: string, now: Date) {
  return inTransaction(db, async (tx) => {
    const expense = await lockExpense(tx, organisationId, expenseId);
    if (expense.status !== 'approved') {
      throw new AppError('invalid_state', `Only approved expenses can be reversed; this one is ${expense.status}.`);
    }
    await lockContributorRow(tx, organisationId, expense.contributorId);
    const budget = await getBudgetRow(tx, organisationId, expense.budgetId);
    await assertStillOwed(tx, organisationId, {
      budget,
      contributorId: expense.contributorId,
      component: 'expenses',
      amount: expense.amount,
      payoutItemId: expense.payoutItemId,
    });
    const reversalTransactionId = await reverseTransaction(tx, organisationId, expense.ledgerTransactionId!, {
      type: 'expense_reversal',
      referenceType: 'expense',
      referenceId: expense.id,
      effectiveDate: now.toISOString().slice(0, 10),
      description: reason,
      createdBy: actor.id,
    });
    const [row] = await tx
      .update(expenses)
      .set({ status: 'reversed', reversalReason: reason, reversedBy: actor.id, reversedAt: now, reversalTransactionId })
      .where(and(eq(expenses.organisationId, organisationId), eq(expenses.id, expense.id)))
      .returning();
    const view = expenseView(row!);
    await recordAudit(tx, organisationId, actor, { action: 'expense.reversed', entityType: 'expense', entityId: expense.id, before: expenseView(expense), after: view });
    return view;
  });
}

export async function getExpense(db: Db, organisationId: string, expenseId: string): Promise<ExpenseView> {
  if (!isUuid(expenseId)) throw notFound('The expense');
  const [row] = await db.select().from(expenses).where(and(eq(expenses.organisationId, organisationId), eq(expenses.id, expenseId)));
  if (!row) throw notFound('The expense');
  return expenseView(row);
}

export async function listExpenses(
  db: Db,
  organisationId: string,
  filter: { contributorId?: string; budgetId?: string; status?: EntryStatus; from?: string; to?: string },
  limit: number,
  afterId?: string,
) {
  const conditions: SQL[] = [eq(expenses.organisationId, organisationId)];
  if (filter.contributorId) {
    if (!isUuid(filter.contributorId)) return [];
    conditions.push(eq(expenses.contributorId, filter.contributorId));
  }
  if (filter.budgetId) {
    if (!isUuid(filter.budgetId)) return [];
    conditions.push(eq(expenses.budgetId, filter.budgetId));
  }
  if (filter.status) conditions.push(eq(expenses.status, filter.status));
  if (filter.from) conditions.push(sql`${expenses.date} >= ${filter.from}`);
  if (filter.to) conditions.push(sql`${expenses.date} <= ${filter.to}`);
  if (afterId) conditions.push(gt(expenses.id, afterId));
  const rows = await db.select().from(expenses).where(and(...conditions)).orderBy(asc(expenses.id)).limit(limit + 1);
  return rows.map(expenseView);
}
