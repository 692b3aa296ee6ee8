/**
 * What the API shows of an expense: the response schema and the mapper from a database row,
 * side by side so they cannot drift.
 */
import { z } from 'zod';
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
  rejectionReason: z.string().nullable(),
  reversalReason: z.string().nullable(),
  ledgerTransactionId: z.string().nullable(),
  reversalTransactionId: z.string().nullable(),
  decidedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
});
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
    rejectionReason: row.rejectionReason,
    reversalReason: row.reversalReason,
    ledgerTransactionId: row.ledgerTransactionId,
    reversalTransactionId: row.reversalTransactionId,
    decidedAt: row.decidedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}
