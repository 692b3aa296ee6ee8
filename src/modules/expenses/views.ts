/**
 * What the API shows of an expense: the response schema and the mapper from a database row,
 * side by side so they cannot drift.
 */
import { z } from 'zod';
import { workLifecycleColumns, workLifecycleFields } from '../approvable-work/views.js';
import type { expenses } from '../../db/schema.js';
import { entryStatuses, expenseCategories } from '../../domain/enums.js';
import { shown } from '../../lib/views.js';

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

const columns = ['id', 'contributorId', 'budgetId', 'category', 'amount', 'currency', 'date', 'receiptReference', 'note', 'status', ...workLifecycleColumns] as const;

export function toExpenseResponse(row: ExpenseRow): ExpenseResponse {
  return shown(row, columns);
}
