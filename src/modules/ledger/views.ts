/**
 * What the API shows of ledger accounts and transactions: the response schemas (which also
 * document them in the OpenAPI document) and the mappers from database rows, side by side so
 * they cannot drift. An account is shown by its code, with the balance its postings add up to.
 */
import { z } from 'zod';
import type { ledgerAccounts, ledgerPostings, ledgerTransactions } from '../../db/schema.js';
import { accountTypes, components } from '../../domain/enums.js';
import { shown } from '../../lib/views.js';

export type LedgerAccountRow = typeof ledgerAccounts.$inferSelect;
export type LedgerTransactionRow = typeof ledgerTransactions.$inferSelect;
/** The columns of a posting its transaction's response shows. */
export type LedgerPostingRow = Pick<typeof ledgerPostings.$inferSelect, 'account' | 'currency' | 'amount'>;

export const ledgerAccountResponse = z.object({
  account: z.string(),
  currency: z.string(),
  type: z.enum(accountTypes),
  contributorId: z.string().nullable(),
  budgetId: z.string().nullable(),
  component: z.enum(components).nullable(),
  balance: z.number().int(),
});
export type LedgerAccountResponse = z.infer<typeof ledgerAccountResponse>;

export const ledgerTransactionResponse = z.object({
  id: z.string(),
  type: z.string(),
  referenceType: z.string(),
  referenceId: z.string(),
  reversesTransactionId: z.string().nullable(),
  effectiveDate: z.string(),
  description: z.string().nullable(),
  createdAt: z.iso.datetime(),
  postings: z.array(z.object({ account: z.string(), currency: z.string(), amount: z.number().int() })),
});
export type LedgerTransactionResponse = z.infer<typeof ledgerTransactionResponse>;

export function toLedgerAccountResponse(row: LedgerAccountRow): LedgerAccountResponse {
  return shown(row, ['currency', 'type', 'contributorId', 'budgetId', 'component', 'balance'], { account: row.code });
}

/** `postings` are the transaction's own, in the order to show them. */
export function toLedgerTransactionResponse(row: LedgerTransactionRow, postings: LedgerPostingRow[]): LedgerTransactionResponse {
  return shown(row, ['id', 'type', 'referenceType', 'referenceId', 'reversesTransactionId', 'effectiveDate', 'description', 'createdAt'], {
    postings: postings.map((posting) => shown(posting, ['account', 'currency', 'amount'])),
  });
}
