/**
 * What the API shows of an expense: the response schema and the mapper from a database row,
 * side by side so they cannot drift.
 */
import { z } from 'zod';
import { toWorkLifecycleFields, workLifecycleFields } from '../approvable-work/views.js';
import type { expenses } from '../../db/schema.js';
import { entryStatuses, expenseCategories } from '../../domain/enums.js';

export type ExpenseRow = typeof expenses.$inferSelect;

export const expenseResponse = z.object({
  id: z.string(),
  contributorId: z.string(),
  budgetId: z.string(),
  category: z.enum(expenseCategories),
  amount: z.number().int(),
  currency: z.string(),
  date: z.string(),
  receiptReference: z.string().nullable(),
  note: z.string().nullable(),
  status: z.enum(entryStatuses),
  ...workLifecycleFields,
});
expenseResponse.register(z.globalRegistry, { id: 'Expense' });
export type ExpenseResponse = z.infer<typeof expenseResponse>;

export function toExpenseResponse(row: ExpenseRow): ExpenseResponse {
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
    ...toWorkLifecycleFields(row),
  };
}
