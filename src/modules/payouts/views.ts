/**
 * What the API shows of payout runs and their items: the response schemas and the mappers
 * from rows, side by side so they cannot drift.
 */
import { z } from 'zod';
import type { payoutItems, payoutRuns } from '../../db/schema.js';
import { payoutItemStatuses, payoutMethods, payoutRunStatuses, type PayoutMethod } from '../../domain/enums.js';

type RunRow = typeof payoutRuns.$inferSelect;
type ItemRow = typeof payoutItems.$inferSelect;

export const payoutItemResponse = z.object({
  id: z.string(),
  runId: z.string(),
  contributorId: z.string(),
  amount: z.number().int(),
  earnings: z.number().int().describe('The part of amount that is earnings: what earnings limits and tax count'),
  expenses: z.number().int().describe('The part of amount that repays expenses: never earnings, never held by a limit'),
  carriedForward: z.number().int().describe('Earnings an earnings limit with policy split left owed for a later period'),
  warnings: z.array(z.string()).describe('An earnings limit passed under policy warn'),
  paymentDate: z.string().nullable().describe('The Europe/London date the money counts as received: drafted, then approved, then paid'),
  currency: z.string(),
  method: z.enum(payoutMethods),
  status: z.enum(payoutItemStatuses),
  stripeTransferId: z.string().nullable(),
  bankPayoutStatus: z.string().nullable().describe("The connected account's bank payout outcome (payout.paid / payout.failed)"),
  reference: z.string().nullable(),
  failureReason: z.string().nullable(),
  lastError: z.string().nullable().describe('The last transient error while paying, if it is being retried'),
  attempts: z.number().int(),
  paidAt: z.iso.datetime().nullable(),
  failedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
});

export const payoutRunResponse = z.object({
  id: z.string(),
  status: z.enum(payoutRunStatuses),
  currency: z.string(),
  budgetId: z.string().nullable(),
  total: z.number().int(),
  filters: z.object({ contributorIds: z.array(z.string()).optional(), methods: z.array(z.enum(payoutMethods)).optional() }),
  skipped: z.array(
    z.object({
      contributorId: z.string(),
      reason: z.string().describe('declined_payment, stripe_account_missing, stripe_account_not_ready or earnings_limit'),
      amount: z.number().int().describe('What stays owed for this reason'),
      headroom: z.number().int().optional().describe("earnings_limit: what the period's limit still allowed"),
      payableFrom: z.string().optional().describe('earnings_limit: the first day of the next period'),
      detail: z.string().optional(),
    }),
  ),
  createdBy: z.string(),
  approvedBy: z.string().nullable(),
  approvedAt: z.iso.datetime().nullable(),
  canceledAt: z.iso.datetime().nullable(),
  ledgerTransactionId: z.string().nullable(),
  createdAt: z.iso.datetime(),
  items: z.array(payoutItemResponse),
});

export function toPayoutItemResponse(item: ItemRow) {
  return {
    id: item.id,
    runId: item.runId,
    contributorId: item.contributorId,
    amount: item.amount,
    earnings: item.earnings,
    expenses: item.expenses,
    carriedForward: item.carriedForward,
    warnings: item.warnings,
    paymentDate: item.paymentDate,
    currency: item.currency,
    method: item.method,
    status: item.status,
    stripeTransferId: item.stripeTransferId,
    bankPayoutStatus: item.bankPayoutStatus,
    reference: item.reference,
    failureReason: item.failureReason,
    lastError: item.lastError,
    attempts: item.attempts,
    paidAt: item.paidAt?.toISOString() ?? null,
    failedAt: item.failedAt?.toISOString() ?? null,
    createdAt: item.createdAt.toISOString(),
  };
}
export type PayoutItemResponse = ReturnType<typeof toPayoutItemResponse>;

export function toPayoutRunResponse(run: RunRow, items: ItemRow[]) {
  return {
    id: run.id,
    status: run.status,
    currency: run.currency,
    budgetId: run.budgetId,
    total: run.total,
    filters: run.filters as { contributorIds?: string[]; methods?: PayoutMethod[] },
    skipped: run.skipped,
    createdBy: run.createdBy,
    approvedBy: run.approvedBy,
    approvedAt: run.approvedAt?.toISOString() ?? null,
    canceledAt: run.canceledAt?.toISOString() ?? null,
    ledgerTransactionId: run.ledgerTransactionId,
    createdAt: run.createdAt.toISOString(),
    items: items.map(toPayoutItemResponse),
  };
}
export type PayoutRunResponse = ReturnType<typeof toPayoutRunResponse>;
