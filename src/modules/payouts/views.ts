/**
 * What the API shows of payout runs and their items: the response schemas and the mappers
 * from rows, side by side so they cannot drift.
 */
import { z } from 'zod';
import type { payoutItems, payoutRuns } from '../../db/schema.js';
import { payoutItemStatuses, payoutMethods, payoutRunStatuses, type PayoutMethod } from '../../domain/enums.js';
import { shown } from '../../lib/views.js';

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
  failureInWords: z
    .string()
    .nullable()
    .describe('Why the item failed, in plain words for the person paid (Stripe codes explained; a reason finance typed, as typed)'),
  lastError: z.string().nullable().describe('The last transient error while paying, if it is being retried'),
  attempts: z.number().int(),
  paidAt: z.iso.datetime().nullable(),
  failedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
});
payoutItemResponse.register(z.globalRegistry, { id: 'PayoutItem' });

export const payoutRunResponse = z.object({
  id: z.string(),
  status: z.enum(payoutRunStatuses),
  currency: z.string(),
  budgetId: z.string().nullable(),
  total: z.number().int(),
  filters: z.object({
    contributorIds: z.array(z.string()).optional(),
    methods: z.array(z.enum(payoutMethods)).optional(),
    failedFrom: z.string().optional().describe('Pay again: the run whose failed items this run pays again'),
  }),
  skipped: z.array(
    z.object({
      contributorId: z.string(),
      reason: z.string().describe('declined_payment, stripe_account_missing, stripe_account_not_ready, earnings_limit or payout_details_changed'),
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
payoutRunResponse.register(z.globalRegistry, { id: 'PayoutRun' });

/** The failure reasons recorded when Stripe takes a transfer back (transfer.reversed). */
export const REVERSED = 'The Stripe transfer was reversed';
export const PARTLY_REVERSED = 'The Stripe transfer was partly reversed';

/**
 * What Stripe's refusals mean for the person waiting for the money. Stripe's own messages name
 * accounts and parameters, so they stay in `failureReason` for finance and never reach an email.
 */
const STRIPE_REFUSALS: Record<string, string> = {
  balance_insufficient: "there was not enough money in the organisation's payment account at the time; this was not something you did",
  account_invalid: 'the payout account it was sent to cannot receive payments',
  resource_missing: 'the payout account it was sent to could not be found',
  insufficient_capabilities_for_transfer: 'your payout account is not set up to receive payments yet',
  transfers_not_allowed: 'your payout account is not allowed to receive payments yet',
  currency_not_supported: 'your payout account cannot receive payments in this currency',
  amount_too_small: 'the amount was too small to send on its own',
  amount_too_large: 'the amount was too large to send in one payment',
  // Not Stripe's own: the payment-diversion hold (stripe-payouts.ts) writes its reason the same way.
  payout_details_changed: 'the bank details your payments go to changed, so it waits until the finance team has checked the change with you',
};

/**
 * Why an item failed, in words for the person who was to be paid: a Stripe item's reason is a
 * code and Stripe's message (see lib/stripe.ts classifyStripeError), explained here; a manual
 * item's reason is what finance typed when marking it failed, kept as typed (without a closing
 * full stop, as messages add their own). Null when the item has not failed.
 */
export function failureInWords(method: string, reason: string | null): string | null {
  if (reason === null) return null;
  if (method !== 'stripe') return reason.trim().replace(/[.\s]+$/, '');
  if (reason === REVERSED) return 'the payment was taken back after it was sent';
  if (reason === PARTLY_REVERSED) return 'part of the payment was taken back after it was sent';
  const code = /^([a-z_]+): /.exec(reason)?.[1];
  return (code && STRIPE_REFUSALS[code]) ?? 'the payment service refused it';
}

const itemColumns = [
  ...['id', 'runId', 'contributorId', 'amount', 'earnings', 'expenses', 'carriedForward', 'warnings', 'paymentDate', 'currency', 'method', 'status'],
  ...['stripeTransferId', 'bankPayoutStatus', 'reference', 'failureReason', 'lastError', 'attempts', 'paidAt', 'failedAt', 'createdAt'],
] as const;

export function toPayoutItemResponse(item: ItemRow) {
  return shown(item, itemColumns, { failureInWords: failureInWords(item.method, item.failureReason) });
}
export type PayoutItemResponse = ReturnType<typeof toPayoutItemResponse>;

const runColumns = ['id', 'status', 'currency', 'budgetId', 'total', 'skipped', 'createdBy', 'approvedBy', 'approvedAt', 'canceledAt', 'ledgerTransactionId', 'createdAt'] as const;

export function toPayoutRunResponse(run: RunRow, items: ItemRow[]) {
  return shown(run, runColumns, {
    filters: run.filters as { contributorIds?: string[]; methods?: PayoutMethod[]; failedFrom?: string },
    items: items.map(toPayoutItemResponse),
  });
}
export type PayoutRunResponse = ReturnType<typeof toPayoutRunResponse>;
