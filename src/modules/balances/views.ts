/**
 * What the API shows of balances and statements: the response schemas (the mappers are the
 * service's return values, which these schemas check on the way out).
 */
import { z } from 'zod';
import { earningsLimit } from '../contributors/schemas.js';
import { expenseResponse } from '../expenses/views.js';
import { timeEntryResponse } from '../time-entries/views.js';

const buckets = z.object({ owed: z.number().int(), inTransit: z.number().int(), paid: z.number().int() });

export const balanceView = z.object({
  contributorId: z.string(),
  balances: z.array(buckets.extend({ currency: z.string(), earnings: buckets, expenses: buckets })),
  earningsLimit: z
    .object({
      period: z.enum(['week', 'month']),
      amount: z.number().int(),
      policy: z.enum(['block', 'split', 'warn']),
      from: z.string().describe('The current period (Europe/London dates)'),
      to: z.string(),
      earningsCounted: z.number().int().describe('Earnings paid, or on their way, in the current period'),
      headroom: z.number().int().describe('What the limit still allows in the current period'),
      owedOverHeadroom: z.number().int().describe('Earnings owed beyond the headroom'),
      heldIfPaidToday: z.number().int().describe('Earnings a payout run today would hold (block) or carry forward (split); 0 under warn'),
      payableFrom: z.string().describe('The first day of the next period'),
    })
    .nullable()
    .describe('Where the contributor stands against the earnings limit in force today (GBP); null without one'),
});

const workTotals = {
  start: z.string(),
  end: z.string(),
  currency: z.string(),
  minutes: z.number().int(),
  earned: z.number().int(),
  withheld: z.number().int(),
  declinedValue: z.number().int(),
  expenses: z.number().int(),
};

const isoDay = z.iso.date();

/** Money received in one earnings-limit period, counted by payment date. */
export const receivedPeriodView = z.object({
  from: isoDay,
  to: isoDay,
  limit: z.number().int().nullable().describe('The limit of the version in force on the last day of the period (today, for the current one), in minor units; null without a limit'),
  earningsPaid: z.number().int(),
  headroom: z.number().int().nullable().describe('limit minus earningsPaid, never below 0; null without a limit'),
  currency: z.string(),
});

/** Money received in one UK tax year, counted by payment date. */
export const receivedTaxYearView = z.object({
  taxYear: z.string().describe('Like 2025-26: 6 April 2025 to 5 April 2026'),
  from: isoDay,
  to: isoDay,
  earningsPaid: z.number().int(),
  expensesPaid: z.number().int(),
  tradingAllowanceRemaining: z.number().int().describe('What is left of the £1,000 (100000 pence) trading allowance, never below 0'),
  currency: z.string(),
});

export const statementView = z.object({
  contributorId: z.string(),
  name: z.string(),
  from: z.string(),
  to: z.string(),
  earningsLimit: earningsLimit.nullable(),
  balances: balanceView.shape.balances,
  timeEntries: z.array(timeEntryResponse),
  expenses: z.array(expenseResponse),
  payouts: z.array(
    z.object({
      id: z.string(),
      amount: z.number().int(),
      earnings: z.number().int(),
      expenses: z.number().int(),
      currency: z.string(),
      method: z.string(),
      status: z.string(),
      reference: z.string().nullable(),
      failureReason: z.string().nullable(),
      paymentDate: isoDay.nullable().describe('The Europe/London date the money counts as received'),
      date: isoDay.describe('The Europe/London date the payout is listed under: its payment date, or the day it failed'),
      paidAt: z.iso.datetime().nullable(),
      createdAt: z.iso.datetime(),
    }),
  ),
  totals: z
    .object({
      taxYears: z.array(z.object({ taxYear: z.string(), ...workTotals })),
      earningsLimitPeriods: z.array(z.object({ limit: z.number().int(), headroom: z.number().int(), ...workTotals })),
    })
    .describe('Approved work by the date it was done (not money received)'),
  periods: z.array(receivedPeriodView).describe('Each earnings-limit period the range touches, totalled whole by payment date'),
  taxYears: z.array(receivedTaxYearView).describe('Each UK tax year the range touches, totalled whole by payment date'),
});
