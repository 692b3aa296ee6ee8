import { and, between, eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { ledgerAccounts, sessions, timeEntries } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import type { Actor, Principal } from '../../domain/actor.js';
import { limitPeriod } from '../../domain/earnings-period.js';
import type { Activity } from '../../domain/enums.js';
import { quoteTime, type TimeQuote } from '../../domain/incentive.js';
import { budgetAvailableAccount } from '../../domain/ledger.js';
import { formatMoney } from '../../domain/money.js';
import { findRate } from '../../domain/rate-card.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { newId } from '../../lib/ids.js';
import {
  approveWork,
  assertInBudgetPeriod,
  getWork,
  insertWork,
  listWork,
  rejectWork,
  reverseWork,
  type WorkFilter,
  type WorkKind,
} from '../approvable-work/lifecycle.js';
import { getBudgetRow, type BudgetRow } from '../budgets/service.js';
import { getContributorRow, type ContributorRow } from '../contributors/service.js';
import { toContributorResponse } from '../contributors/views.js';
import { loadVersions } from '../rate-cards/service.js';
import { toTimeEntryResponse, type TimeEntryResponse, type TimeEntryRow } from './views.js';

/** Time entries in the approvable-work lifecycle: earnings, priced by the budget's rate card. */
export const timeEntryWork: WorkKind<TimeEntryRow, TimeEntryResponse> = {
  table: timeEntries,
  noun: 'time entry',
  entityType: 'time_entry',
  component: 'earnings',
  view: toTimeEntryResponse,
  notReversible: (status) => `Only approved time can be reversed; this entry is ${status}.`,
};

/** Earnings approved (not reversed) for a contributor between two dates, in one currency. */
export async function earnedBetween(tx: Db, organisationId: string, contributorId: string, currency: string, from: string, to: string) {
  const [row] = await tx
    .select({ total: sql<string>`coalesce(sum(${timeEntries.amount}), 0)` })
    .from(timeEntries)
    .where(
      and(
        eq(timeEntries.organisationId, organisationId),
        eq(timeEntries.contributorId, contributorId),
        eq(timeEntries.status, 'approved'),
        eq(timeEntries.currency, currency),
        between(timeEntries.date, from, to),
      ),
    );
  return Number(row?.total ?? 0);
}

interface WorkInput {
  activity: Activity;
  date: string;
  minutes: number;
}

/**
 * Prices a piece of work with the rate card in force on its date and the contributor's earnings
 * limit as it stands. Errors: outside_budget_period, rate_not_found.
 */
async function priceWork(
  tx: Db,
  organisationId: string,
  contributor: ContributorRow,
  budget: BudgetRow,
  work: WorkInput,
): Promise<{ quote: TimeQuote; rateCardVersionId: string; inKind: boolean }> {
  assertInBudgetPeriod(budget, work.date);
  const versions = await loadVersions(tx, organisationId, budget.rateCardId);
  const match = findRate(versions, { contributorKind: contributor.kind, activity: work.activity, date: work.date });
  if (!match) {
    throw new AppError(
      'rate_not_found',
      `The budget's rate card has no ${work.activity} rate for ${contributor.kind.replace('_', ' ')} contributors on ${work.date}.`,
    );
  }
  const limit = toContributorResponse(contributor).earningsLimit;
  const earnedInPeriod = limit
    ? await (async () => {
        const period = limitPeriod(limit, work.date);
        return earnedBetween(tx, organisationId, contributor.id, budget.currency, period.start, period.end);
      })()
    : 0;
  const quote = quoteTime({
    minutes: work.minutes,
    rate: match.rate,
    rateCardVersion: match.version.version,
    contributor: { kind: contributor.kind, paymentMethod: contributor.paymentMethod },
    earningsLimit: limit,
    earnedInPeriod,
    currency: budget.currency,
  });
  return { quote, rateCardVersionId: match.version.id, inKind: match.rate.inKind === true };
}

/** A warning when the budget would be left with little or nothing. */
async function budgetWarnings(tx: Db, organisationId: string, budget: BudgetRow, amount: number): Promise<string[]> {
  const code = budgetAvailableAccount(budget.id, budget.allowOverspend).code;
  const [row] = await tx
    .select({ balance: ledgerAccounts.balance })
    .from(ledgerAccounts)
    .where(and(eq(ledgerAccounts.organisationId, organisationId), eq(ledgerAccounts.code, code), eq(ledgerAccounts.currency, budget.currency)));
  const available = row?.balance ?? 0;
  if (amount > available) {
    return [
      budget.allowOverspend
        ? `The budget "${budget.name}" has ${formatMoney(available, budget.currency)} left; approving this overspends it (overspend is allowed).`
        : `The budget "${budget.name}" has only ${formatMoney(Math.max(0, available), budget.currency)} left: approval will be refused unless money is added.`,
    ];
  }
  if ((available - amount) * 10 < budget.amount) {
    return [`The budget "${budget.name}" is running low: ${formatMoney(available - amount, budget.currency)} would be left.`];
  }
  return [];
}

export interface NewTimeEntry extends WorkInput {
  contributorId: string;
  budgetId: string;
  note?: string;
}

async function insertEntry(
  tx: Db,
  organisationId: string,
  actor: Actor,
  contributor: ContributorRow,
  budget: BudgetRow,
  input: NewTimeEntry,
  sessionId: string | null,
): Promise<TimeEntryResponse> {
  const { quote, rateCardVersionId } = await priceWork(tx, organisationId, contributor, budget, input);
  const warnings = [...quote.warnings, ...(await budgetWarnings(tx, organisationId, budget, quote.payable))];
  return insertWork(tx, timeEntryWork, organisationId, actor, {
    id: newId(),
    contributorId: contributor.id,
    budgetId: budget.id,
    sessionId,
    activity: input.activity,
    date: input.date,
    minutes: input.minutes,
    note: input.note ?? null,
    currency: budget.currency,
    rateCardVersionId,
    rateCardVersion: quote.rateCardVersion,
    value: quote.value,
    amount: quote.payable,
    withheld: quote.withheld,
    limitOutcome: quote.limitOutcome,
    explanation: quote.explanation,
    warnings,
    submittedBy: actor.id,
  });
}

/**
 * Records time as submitted, with a quote. Errors: not_found (contributor or budget),
 * outside_budget_period, rate_not_found.
 */
export async function submitTimeEntry(db: Db, organisationId: string, actor: Actor, input: NewTimeEntry): Promise<TimeEntryResponse> {
  return inTransaction(db, async (tx) => {
    const contributor = await getContributorRow(tx, organisationId, input.contributorId);
    const budget = await getBudgetRow(tx, organisationId, input.budgetId);
    return insertEntry(tx, organisationId, actor, contributor, budget, input, null);
  });
}

export interface NewSession extends WorkInput {
  budgetId: string;
  note?: string;
  attendees: string[];
}

/**
 * One co-production session: a submitted time entry per attendee, all or nothing.
 * Errors: as submitTimeEntry, for any attendee.
 */
export async function recordSession(db: Db, organisationId: string, actor: Actor, input: NewSession) {
  return inTransaction(db, async (tx) => {
    const budget = await getBudgetRow(tx, organisationId, input.budgetId);
    const id = newId();
    await tx.insert(sessions).values({
      organisationId,
      id,
      budgetId: budget.id,
      activity: input.activity,
      date: input.date,
      minutes: input.minutes,
      note: input.note ?? null,
      createdBy: actor.id,
    });
    const entries: TimeEntryResponse[] = [];
    for (const contributorId of input.attendees) {
      const contributor = await getContributorRow(tx, organisationId, contributorId);
      entries.push(
        await insertEntry(tx, organisationId, actor, contributor, budget, { ...input, contributorId, note: input.note }, id),
      );
    }
    await recordAudit(tx, organisationId, actor, {
      action: 'session.recorded',
      entityType: 'session',
      entityId: id,
      after: { ...input, entryIds: entries.map((e) => e.id) },
    });
    return { id, budgetId: budget.id, activity: input.activity, date: input.date, minutes: input.minutes, note: input.note ?? null, entries };
  });
}

/**
 * What a session would record, without recording it: the quote each attendee's entry would get.
 * Nothing is written. Errors: as recordSession.
 */
export async function quoteSession(db: Db, organisationId: string, input: Omit<NewSession, 'note'>) {
  const budget = await getBudgetRow(db, organisationId, input.budgetId);
  const entries = [];
  for (const contributorId of input.attendees) {
    const contributor = await getContributorRow(db, organisationId, contributorId);
    const { quote } = await priceWork(db, organisationId, contributor, budget, input);
    const warnings = [...quote.warnings, ...(await budgetWarnings(db, organisationId, budget, quote.payable))];
    entries.push({
      contributorId,
      quote: {
        amount: quote.payable,
        value: quote.value,
        withheld: quote.withheld,
        currency: budget.currency,
        rateCardVersion: quote.rateCardVersion,
        explanation: quote.explanation,
        warnings,
      },
    });
  }
  const total = entries.reduce((sum, e) => sum + e.quote.amount, 0);
  return { budgetId: budget.id, currency: budget.currency, total, entries };
}

/**
 * Approves submitted time: prices it again with the rates in force for its date and the
 * earnings already approved in its limit period (both under lock, so racing approvals for one
 * contributor see each other), applies the limit policy, and moves the amount from the budget
 * to what the contributor is owed.
 *
 * Errors: as approveWork (not_found, invalid_state, self_approval_forbidden, budget_exceeded),
 * earnings_limit_exceeded (policy block; carries `headroom`), rate_not_found.
 */
export function approveTimeEntry(db: Db, organisationId: string, principal: Principal, actor: Actor, entryId: string, now: Date) {
  return approveWork(db, timeEntryWork, organisationId, principal, actor, entryId, now, async (tx, entry, contributor, budget) => {
    const { quote, rateCardVersionId, inKind } = await priceWork(tx, organisationId, contributor, budget, entry);
    if (quote.limitOutcome === 'blocked') {
      const headroom = quote.headroom ?? 0;
      const period = contributor.limitPeriod === 'week' ? 'week' : 'month';
      throw new AppError(
        'earnings_limit_exceeded',
        `This would take ${contributor.name} over their earnings limit for the ${period}: ${formatMoney(headroom, budget.currency)} of headroom is left, and this work is ${formatMoney(quote.amount, budget.currency)}.`,
        { headroom },
      );
    }
    return {
      amount: quote.payable,
      values: {
        rateCardVersionId,
        rateCardVersion: quote.rateCardVersion,
        value: quote.value,
        amount: quote.payable,
        withheld: quote.withheld,
        inKind,
        declined: contributor.paymentMethod === 'declined',
        limitOutcome: quote.limitOutcome,
        flagged: quote.limitOutcome === 'warned',
        explanation: quote.explanation,
        warnings: quote.warnings,
      },
    };
  });
}

/** Errors: not_found, invalid_state (not submitted), self_approval_forbidden. */
export function rejectTimeEntry(db: Db, organisationId: string, principal: Principal, actor: Actor, entryId: string, reason: string, now: Date) {
  return rejectWork(db, timeEntryWork, organisationId, principal, actor, entryId, reason, now);
}

/** Errors: not_found, invalid_state (not approved), already_paid (the money is in a payout or paid). */
export function reverseTimeEntry(db: Db, organisationId: string, actor: Actor, entryId: string, reason: string, now: Date) {
  return reverseWork(db, timeEntryWork, organisationId, actor, entryId, reason, now);
}

export function getTimeEntry(db: Db, organisationId: string, entryId: string): Promise<TimeEntryResponse> {
  return getWork(db, timeEntryWork, organisationId, entryId);
}

export function listTimeEntries(db: Db, organisationId: string, filter: WorkFilter, limit: number, afterId?: string) {
  return listWork(db, timeEntryWork, organisationId, filter, limit, afterId);
}
