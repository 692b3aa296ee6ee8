import type { Db } from '../../db/client.js';
import { expenses } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import type { Actor } from '../../domain/actor.js';
import type { ExpenseCategory } from '../../domain/enums.js';
import { newId } from '../../lib/ids.js';
import { approveWork, assertInBudgetPeriod, insertWork, type WorkContext, type WorkKind } from '../approvable-work/lifecycle.js';
import { getBudgetRow } from '../budgets/service.js';
import { assertNotErased, getContributorRow } from '../contributors/service.js';
import { toExpenseResponse, type ExpenseResponse, type ExpenseRow } from './views.js';

/** Expenses in the approvable-work lifecycle: reimbursements, never earnings. */
export const expenseWork: WorkKind<ExpenseRow, ExpenseResponse> = {
  table: expenses,
  noun: 'expense',
  entityType: 'expense',
  component: 'expenses',
  view: toExpenseResponse,
  notReversible: (status) => `Only approved expenses can be reversed; this one is ${status}.`,
};

export interface NewExpense {
  contributorId: string;
  budgetId: string;
  category: ExpenseCategory;
  amount: number;
  date: string;
  receiptReference?: string;
  note?: string;
}

/**
 * Records an expense claim (a reimbursement, never earnings). Errors: not_found (contributor,
 * budget), outside_budget_period.
 */
export async function submitExpense(db: Db, organisationId: string, actor: Actor, input: NewExpense, now: Date): Promise<ExpenseResponse> {
  return inTransaction(db, async (tx) => {
    assertNotErased(await getContributorRow(tx, organisationId, input.contributorId));
    const budget = await getBudgetRow(tx, organisationId, input.budgetId);
    assertInBudgetPeriod(budget, input.date);
    return insertWork(tx, expenseWork, organisationId, actor, {
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
    }, now);
  });
}

/**
 * Approves an expense: its whole amount becomes owed as expenses (never earnings, never counted
 * towards an earnings limit). Errors: as approveWork (not_found, invalid_state,
 * self_approval_forbidden, budget_exceeded).
 */
export function approveExpense(db: Db, context: WorkContext, expenseId: string) {
  return approveWork(db, expenseWork, context, expenseId, (_tx, expense) => ({ amount: expense.amount }));
}
