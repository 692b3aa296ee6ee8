import { and, asc, between, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { contributors, ledgerAccounts, sessions, timeEntries } from '../../db/schema.js';
import type { EntryStatus } from '../../domain/enums.js';
import { inTransaction } from '../../db/tx.js';
import { limitPeriod } from '../../domain/earnings-period.js';
import { quoteTime, type TimeQuote } from '../../domain/incentive.js';
import { budgetAvailableAccount } from '../../domain/ledger.js';
import { formatMoney } from '../../domain/money.js';
import type { Activity } from '../../domain/enums.js';
import { findRate } from '../../domain/rate-card.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import type { Principal } from '../../domain/actor.js';
import { getBudgetRow, type BudgetRow } from '../budgets/service.js';
import { toContributorView } from '../contributors/service.js';
import { reverseTransaction } from '../ledger/service.js';
import { loadVersions } from '../rate-cards/service.js';
import { assertNotSelf, assertStatus, assertStillOwed, chargeBudget } from '../work/charge.js';

type EntryRow = typeof timeEntries.$inferSelect;
type ContributorRow = typeof contributors.$inferSelect;

export function timeEntryView(row: EntryRow) {
  return {
    id: row.id,
    contributorId: row.contributorId,
    budgetId: row.budgetId,
    sessionId: row.sessionId,
    activity: row.activity,
    date: row.date,
    minutes: row.minutes,
    note: row.note,
    status: row.status,
    currency: row.currency,
    value: row.value,
    amount: row.amount,
    withheld: row.withheld,
    inKind: row.inKind,
    declined: row.declined,
    flagged: row.flagged,
    limitOutcome: row.limitOutcome,
    rateCardVersion: row.rateCardVersion,
    quote: {
      amount: row.amount,
      value: row.value,
      withheld: row.withheld,
      currency: row.currency,
      rateCardVersion: row.rateCardVersion,
      explanation: row.explanation,
      warnings: row.warnings,
    },
    rejectionReason: row.rejectionReason,
    reversalReason: row.reversalReason,
    ledgerTransactionId: row.ledgerTransactionId,
    reversalTransactionId: row.reversalTransactionId,
    decidedAt: row.decidedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}
export type TimeEntryView = ReturnType<typeof timeEntryView>;

async function lockContributor(tx: Db, organisationId: string, contributorId: string, forUpdate: boolean): Promise<ContributorRow> {
  if (!isUuid(contributorId)) throw notFound('The contributor');
  const query = tx
    .select()
    .from(contributors)
    .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)));
  const [row] = forUpdate ? await query.for('update') : await query;
  if (!row) throw notFound('The contributor');
  return row;
}

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
  if (work.date < budget.startsOn || work.date > budget.endsOn) {
    throw new AppError(
      'outside_budget_period',
      `${work.date} is outside the budget "${budget.name}", which runs from ${budget.startsOn} to ${budget.endsOn}.`,
    );
  }
  const versions = await loadVersions(tx, organisationId, budget.rateCardId);
  const match = findRate(versions, { contributorKind: contributor.kind, activity: work.activity, date: work.date });
  if (!match) {
    throw new AppError(
      'rate_not_found',
      `The budget's rate card has no ${work.activity} rate for ${contributor.kind.replace('_', ' ')} contributors on ${work.date}.`,
    );
  }
  const limit = toContributorView(contributor).earningsLimit;
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

/** A participant records time only for themselves. Errors: forbidden. */
export function assertMayRecordFor(principal: Principal, contributorId: string): void {
  if (principal.role === 'participant' && principal.contributorId !== contributorId) {
    throw new AppError('forbidden', 'A participant may record time only for themselves.');
  }
}

async function insertEntry(
  tx: Db,
  organisationId: string,
  actor: Actor,
  contributor: ContributorRow,
  budget: BudgetRow,
  input: NewTimeEntry,
  sessionId: string | null,
): Promise<TimeEntryView> {
  const { quote, rateCardVersionId } = await priceWork(tx, organisationId, contributor, budget, input);
  const warnings = [...quote.warnings, ...(await budgetWarnings(tx, organisationId, budget, quote.payable))];
  const [row] = await tx
    .insert(timeEntries)
    .values({
      organisationId,
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
    })
    .returning();
  const view = timeEntryView(row!);
  await recordAudit(tx, organisationId, actor, { action: 'time_entry.submitted', entityType: 'time_entry', entityId: view.id, after: view });
  return view;
}

/**
 * Records time as submitted, with a quote. Errors: not_found (contributor or budget),
 * outside_budget_period, rate_not_found.
 */
export async function submitTimeEntry(db: Db, organisationId: string, actor: Actor, input: NewTimeEntry): Promise<TimeEntryView> {
  return inTransaction(db, async (tx) => {
    const contributor = await lockContributor(tx, organisationId, input.contributorId, false);
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
    const entries: TimeEntryView[] = [];
    for (const contributorId of input.attendees) {
      const contributor = await lockContributor(tx, organisationId, contributorId, false);
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
    const contributor = await lockContributor(db, organisationId, contributorId, false);
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

async function lockEntry(tx: Db, organisationId: string, entryId: string): Promise<EntryRow> {
  if (!isUuid(entryId)) throw notFound('The time entry');
  const [row] = await tx
    .select()
    .from(timeEntries)
    .where(and(eq(timeEntries.organisationId, organisationId), eq(timeEntries.id, entryId)))
    .for('update');
  if (!row) throw notFound('The time entry');
  return row;
}

/**
 * Approves submitted time: prices it again with the rates in force for its date and the
 * earnings already approved in its limit period (both under lock, so racing approvals for one
 * contributor see each other), applies the limit policy, and moves the amount from the budget
 * to what the contributor is owed.
 *
 * Locks, always in this order: the entry, the contributor, then ledger accounts by code.
 * Errors: not_found, invalid_state (not submitted), self_approval_forbidden,
 * earnings_limit_exceeded (policy block; carries `headroom`), budget_exceeded,
 * rate_not_found.
 */
export async function approveTimeEntry(db: Db, organisationId: string, principal: Principal, actor: Actor, entryId: string, now: Date) {
  return inTransaction(db, async (tx) => {
    const entry = await lockEntry(tx, organisationId, entryId);
    assertStatus('time entry', entry.status, 'submitted');
    assertNotSelf(principal, entry.contributorId);
    const contributor = await lockContributor(tx, organisationId, entry.contributorId, true);
    const budget = await getBudgetRow(tx, organisationId, entry.budgetId);
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

    const ledgerTransactionId =
      quote.payable > 0
        ? await chargeBudget(tx, organisationId, {
            budget,
            contributorId: contributor.id,
            component: 'earnings',
            amount: quote.payable,
            referenceType: 'time_entry',
            referenceId: entry.id,
            effectiveDate: entry.date,
            createdBy: actor.id,
          })
        : null;

    const [row] = await tx
      .update(timeEntries)
      .set({
        status: 'approved',
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
        decidedBy: actor.id,
        decidedAt: now,
        ledgerTransactionId,
      })
      .where(and(eq(timeEntries.organisationId, organisationId), eq(timeEntries.id, entry.id)))
      .returning();
    const view = timeEntryView(row!);
    await recordAudit(tx, organisationId, actor, {
      action: 'time_entry.approved',
      entityType: 'time_entry',
      entityId: entry.id,
      before: timeEntryView(entry),
      after: view,
    });
    return view;
  });
}

/** Errors: not_found, invalid_state (not submitted), self_approval_forbidden. */
export async function rejectTimeEntry(
  db: Db,
  organisationId: string,
  principal: Principal,
  actor: Actor,
  entryId: string,
  reason: string,
  now: Date,
) {
  return inTransaction(db, async (tx) => {
    const entry = await lockEntry(tx, organisationId, entryId);
    assertStatus('time entry', entry.status, 'submitted');
    assertNotSelf(principal, entry.contributorId);
    const [row] = await tx
      .update(timeEntries)
      .set({ status: 'rejected', rejectionReason: reason, decidedBy: actor.id, decidedAt: now })
      .where(and(eq(timeEntries.organisationId, organisationId), eq(timeEntries.id, entry.id)))
      .returning();
    const view = timeEntryView(row!);
    await recordAudit(tx, organisationId, actor, {
      action: 'time_entry.rejected',
      entityType: 'time_entry',
      entityId: entry.id,
      before: timeEntryView(entry),
      after: view,
    });
    return view;
  });
}

/**
 * Reverses approved time whose money has not left: posts the reversing transaction (owed back
 * to the budget) and marks the entry reversed. Errors: not_found, invalid_state (not approved),
 * already_paid (the money is in a payout or paid).
 */
export async function reverseTimeEntry(db: Db, organisationId: string, actor: Actor, entryId: string, reason: string, now: Date) {
  return inTransaction(db, async (tx) => {
    const entry = await lockEntry(tx, organisationId, entryId);
    if (entry.status !== 'approved') {
      throw new AppError('invalid_state', `Only approved time can be reversed; this entry is ${entry.status}.`);
    }
    await lockContributor(tx, organisationId, entry.contributorId, true);
    const budget = await getBudgetRow(tx, organisationId, entry.budgetId);
    await assertStillOwed(tx, organisationId, {
      budget,
      contributorId: entry.contributorId,
      component: 'earnings',
      amount: entry.amount,
      payoutItemId: entry.payoutItemId,
    });
    const reversalTransactionId = entry.ledgerTransactionId
      ? await reverseTransaction(tx, organisationId, entry.ledgerTransactionId, {
          type: 'time_entry_reversal',
          referenceType: 'time_entry',
          referenceId: entry.id,
          effectiveDate: now.toISOString().slice(0, 10),
          description: reason,
          createdBy: actor.id,
        })
      : null;
    const [row] = await tx
      .update(timeEntries)
      .set({ status: 'reversed', reversalReason: reason, reversedBy: actor.id, reversedAt: now, reversalTransactionId })
      .where(and(eq(timeEntries.organisationId, organisationId), eq(timeEntries.id, entry.id)))
      .returning();
    const view = timeEntryView(row!);
    await recordAudit(tx, organisationId, actor, {
      action: 'time_entry.reversed',
      entityType: 'time_entry',
      entityId: entry.id,
      before: timeEntryView(entry),
      after: view,
    });
    return view;
  });
}

export async function getTimeEntry(db: Db, organisationId: string, entryId: string): Promise<TimeEntryView> {
  if (!isUuid(entryId)) throw notFound('The time entry');
  const [row] = await db.select().from(timeEntries).where(and(eq(timeEntries.organisationId, organisationId), eq(timeEntries.id, entryId)));
  if (!row) throw notFound('The time entry');
  return timeEntryView(row);
}

export interface TimeEntryFilter {
  contributorId?: string;
  budgetId?: string;
  status?: EntryStatus;
  from?: string;
  to?: string;
}

export async function listTimeEntries(db: Db, organisationId: string, filter: TimeEntryFilter, limit: number, afterId?: string) {
  const conditions: SQL[] = [eq(timeEntries.organisationId, organisationId)];
  if (filter.contributorId) {
    if (!isUuid(filter.contributorId)) return [];
    conditions.push(eq(timeEntries.contributorId, filter.contributorId));
  }
  if (filter.budgetId) {
    if (!isUuid(filter.budgetId)) return [];
    conditions.push(eq(timeEntries.budgetId, filter.budgetId));
  }
  if (filter.status) conditions.push(eq(timeEntries.status, filter.status));
  if (filter.from) conditions.push(sql`${timeEntries.date} >= ${filter.from}`);
  if (filter.to) conditions.push(sql`${timeEntries.date} <= ${filter.to}`);
  if (afterId) conditions.push(gt(timeEntries.id, afterId));
  const rows = await db.select().from(timeEntries).where(and(...conditions)).orderBy(asc(timeEntries.id)).limit(limit + 1);
  return rows.map(timeEntryView);
}
