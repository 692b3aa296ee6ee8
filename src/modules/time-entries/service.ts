import { and, desc, eq, gt, inArray, ne, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { preparedStatement } from '../../db/prepared.js';
import { ledgerAccounts, sessions, timeEntries } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import type { Actor } from '../../domain/actor.js';
import type { Activity } from '../../domain/enums.js';
import { quoteTime, type TimeQuote } from '../../domain/incentive.js';
import { budgetAvailableAccount } from '../../domain/ledger.js';
import { formatMoney, toSafeNumber } from '../../domain/money.js';
import { findRate } from '../../domain/rate-card.js';
import { londonDate } from '../../domain/uk-time.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { newId } from '../../lib/ids.js';
import { approveWork, assertInBudgetPeriod, insertWork, type WorkContext, type WorkKind } from '../approvable-work/lifecycle.js';
import { loadForSubmit } from '../approvable-work/load.js';
import { allAnswered } from '../../db/pipelined-transactions.js';
import { isUuid } from '../../lib/ids.js';
import type { RateCardVersion } from '../../domain/rate-card.js';
import { getBudgetRow, type BudgetRow } from '../budgets/service.js';
import { limitForecast } from '../contributors/earnings-limits.js';
import { limitOn, type EarningsLimitVersion } from '../../domain/earnings-limit.js';
import { assertNotErased, getContributorRow, type ContributorRow } from '../contributors/service.js';
import { contributorRecipients, queueNotification, type Recipient } from '../notifications/outbox.js';
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

interface WorkInput {
  activity: Activity;
  date: string;
  minutes: number;
}

/**
 * Prices a piece of work with the rate card in force on its date. Errors: outside_budget_period,
 * rate_not_found.
 */
async function priceWork(
  tx: Db,
  organisationId: string,
  contributor: ContributorRow,
  budget: BudgetRow,
  work: WorkInput,
  loadedVersions?: RateCardVersion[] | null,
): Promise<{ quote: TimeQuote; rateCardVersionId: string; inKind: boolean }> {
  assertInBudgetPeriod(budget, work.date);
  const versions = loadedVersions ?? (await loadVersions(tx, organisationId, budget.rateCardId));
  const match = findRate(versions, { contributorKind: contributor.kind, activity: work.activity, date: work.date });
  if (!match) {
    throw new AppError(
      'rate_not_found',
      `The budget's rate card has no ${work.activity} rate for ${contributor.kind.replace('_', ' ')} contributors on ${work.date}.`,
    );
  }
  const quote = quoteTime({
    minutes: work.minutes,
    rate: match.rate,
    rateCardVersion: match.version.version,
    contributor: { kind: contributor.kind, paymentMethod: contributor.paymentMethod },
    currency: budget.currency,
  });
  return { quote, rateCardVersionId: match.version.id, inKind: match.rate.inKind === true };
}

async function budgetAvailable(tx: Db, organisationId: string, budget: BudgetRow): Promise<number> {
  const code = budgetAvailableAccount(budget.id, budget.allowOverspend).code;
  const [row] = await tx
    .select({ balance: ledgerAccounts.balance })
    .from(ledgerAccounts)
    .where(and(eq(ledgerAccounts.organisationId, organisationId), eq(ledgerAccounts.code, code), eq(ledgerAccounts.currency, budget.currency)));
  return row?.balance ?? 0;
}

/** A warning when the budget would be left with little or nothing. */
async function budgetWarnings(tx: Db, organisationId: string, budget: BudgetRow, amount: number, loadedAvailable?: number): Promise<string[]> {
  const available = loadedAvailable ?? (await budgetAvailable(tx, organisationId, budget));
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
  /** The request carried an Idempotency-Key, so a retry of it cannot have recorded it twice. */
  recordedWithKey?: boolean;
}

/** How close in time two identical entries must be recorded to be shown as a possible duplicate. */
export const DUPLICATE_WINDOW_MS = 60_000;

/**
 * The entry recorded moments before that this one may repeat: same contributor, date, activity
 * and minutes, recorded less than {@link DUPLICATE_WINDOW_MS} earlier and not rejected. Only for
 * a request without an Idempotency-Key (a retry with one is answered from its first response).
 */
async function possibleDuplicate(tx: Db, organisationId: string, contributorId: string, input: NewTimeEntry, now: Date): Promise<string | null> {
  if (input.recordedWithKey) return null;
  const [row] = await tx
    .select({ id: timeEntries.id })
    .from(timeEntries)
    .where(
      and(
        eq(timeEntries.organisationId, organisationId),
        eq(timeEntries.contributorId, contributorId),
        eq(timeEntries.date, input.date),
        eq(timeEntries.activity, input.activity),
        eq(timeEntries.minutes, input.minutes),
        ne(timeEntries.status, 'rejected'),
        gt(timeEntries.createdAt, new Date(now.getTime() - DUPLICATE_WINDOW_MS)),
      ),
    )
    .orderBy(desc(timeEntries.createdAt))
    .limit(1);
  return row?.id ?? null;
}

/**
 * A contributor's minutes on one date, over their submitted and approved entries, never pass
 * 24 hours. The caller holds the contributor's lock, so two submissions cannot both fit.
 * Errors: day_minutes_exceeded (422).
 */
const dayMinutes = preparedStatement('time_entries_day_minutes', (db) =>
  db
    .select({ total: sql<string>`coalesce(sum(${timeEntries.minutes}), 0)` })
    .from(timeEntries)
    .where(
      and(
        eq(timeEntries.organisationId, sql.placeholder('organisationId')),
        eq(timeEntries.contributorId, sql.placeholder('contributorId')),
        eq(timeEntries.date, sql.placeholder('date')),
        inArray(timeEntries.status, ['submitted', 'approved']),
      ),
    ),
);

/**
 * The minutes a contributor has submitted or approved on a day; none for an id that is not a
 * UUID (no such contributor, as the caller's not_found will say), which never reaches the uuid
 * column.
 */
const minutesOnDay = async (tx: Db, organisationId: string, contributorId: string, date: string) =>
  isUuid(contributorId) ? dayMinutes(tx, { organisationId, contributorId, date }).then(([row]) => toSafeNumber(row?.total ?? 0)) : 0;

/** Refuses minutes that would pass a day's 1,440; `recorded` when the caller read the day already. */
async function assertDayNotOverfull(tx: Db, organisationId: string, contributorId: string, date: string, minutes: number, recorded?: number) {
  const already = recorded ?? (await minutesOnDay(tx, organisationId, contributorId, date));
  if (already + minutes > MINUTES_PER_DAY) {
    throw new AppError(
      'day_minutes_exceeded',
      `This contributor already has ${already} minutes recorded on ${date}; ${minutes} more would pass the ${MINUTES_PER_DAY} minutes in a day.`,
      { minutesRecorded: already },
    );
  }
}

const MINUTES_PER_DAY = 1440;

/** What submitting already read with the contributor's lock (approvable-work/load.ts), and the day's minutes read right after it. */
interface Loaded {
  available: number;
  versions: RateCardVersion[];
  limitVersions: EarningsLimitVersion[];
  minutesOnDay: number;
}

/**
 * The earnings-limit forecast for `today`. With `limitVersions` (read with the contributor's
 * lock, approvable-work/load.ts) the limit in force is known: nothing more is read for the many
 * contributors who have none, and the rest skip reading their versions again.
 */
const forecast = async (tx: Db, organisationId: string, contributorId: string, currency: string, amount: number, today: string, limitVersions?: EarningsLimitVersion[]) =>
  limitForecast(tx, organisationId, contributorId, currency, amount, today, limitVersions ? { limit: limitOn(limitVersions, today) } : undefined);

/** The quote's own warnings, the budget's, and the earnings-limit forecast for `today`. */
async function allWarnings(tx: Db, organisationId: string, contributor: ContributorRow, budget: BudgetRow, quote: TimeQuote, today: string, loaded?: Loaded) {
  return [
    ...quote.warnings,
    ...(await budgetWarnings(tx, organisationId, budget, quote.amount, loaded?.available)),
    ...(await forecast(tx, organisationId, contributor.id, budget.currency, quote.amount, today, loaded?.limitVersions)),
  ];
}

async function insertEntry(
  tx: Db,
  organisationId: string,
  actor: Actor,
  contributor: ContributorRow,
  budget: BudgetRow,
  input: NewTimeEntry,
  sessionId: string | null,
  now: Date,
  loaded?: Loaded,
): Promise<TimeEntryResponse> {
  const today = londonDate(now);
  await assertDayNotOverfull(tx, organisationId, contributor.id, input.date, input.minutes, loaded?.minutesOnDay);
  const { quote, rateCardVersionId } = await priceWork(tx, organisationId, contributor, budget, input, loaded?.versions);
  const warnings = await allWarnings(tx, organisationId, contributor, budget, quote, today, loaded);
  const possibleDuplicateOf = await possibleDuplicate(tx, organisationId, contributor.id, input, now);
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
    amount: quote.amount,
    explanation: quote.explanation,
    warnings,
    submittedBy: actor.id,
    possibleDuplicateOf,
  }, now);
}

/**
 * Records time as submitted, with a quote. Errors: not_found (contributor or budget),
 * outside_budget_period, rate_not_found, day_minutes_exceeded.
 */
export async function submitTimeEntry(db: Db, organisationId: string, actor: Actor, input: NewTimeEntry, now: Date): Promise<TimeEntryResponse> {
  return inTransaction(db, async (tx) => {
    // The contributor locked, the budget, its balance and its rate card in one statement
    // (approvable-work/load.ts); when nothing comes back, the single-row reads say which is missing.
    // The day's minutes are read right behind it, sent in the same round trip: PostgreSQL runs
    // the two in the order sent, so the read sees the day as it is once the contributor is
    // locked, and a submit racing this one for the same contributor waits for it before reading.
    // Both are prepared statements, sent when called, so the lock goes first
    // (test/pipelined-transactions.test.ts checks the order on PostgreSQL).
    const locked = loadForSubmit(tx, organisationId, input.contributorId, input.budgetId);
    const dayMinutesRead = minutesOnDay(tx, organisationId, input.contributorId, input.date);
    const [loaded, minutes] = await allAnswered([locked, dayMinutesRead]);
    if (!loaded) {
      assertNotErased(await getContributorRow(tx, organisationId, input.contributorId, true));
      await getBudgetRow(tx, organisationId, input.budgetId);
      throw notFound('The budget');
    }
    return insertEntry(tx, organisationId, actor, assertNotErased(loaded.contributor), loaded.budget, input, null, now, { ...loaded, minutesOnDay: minutes });
  });
}

export interface NewSession extends WorkInput {
  budgetId: string;
  note?: string;
  attendees: string[];
  recordedWithKey?: boolean;
}

/**
 * One co-production session: a submitted time entry per attendee, all or nothing.
 * Errors: as submitTimeEntry, for any attendee.
 */
export async function recordSession(db: Db, organisationId: string, actor: Actor, input: NewSession, now: Date) {
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
      const contributor = assertNotErased(await getContributorRow(tx, organisationId, contributorId, true));
      entries.push(
        await insertEntry(tx, organisationId, actor, contributor, budget, { ...input, contributorId, note: input.note }, id, now),
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
export async function quoteSession(db: Db, organisationId: string, input: Omit<NewSession, 'note'>, now: Date) {
  const budget = await getBudgetRow(db, organisationId, input.budgetId);
  const entries = [];
  for (const contributorId of input.attendees) {
    const contributor = await getContributorRow(db, organisationId, contributorId);
    const { quote } = await priceWork(db, organisationId, contributor, budget, input);
    const warnings = await allWarnings(db, organisationId, contributor, budget, quote, londonDate(now));
    entries.push({
      contributorId,
      quote: {
        amount: quote.amount,
        value: quote.value,
        withheld: 0,
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
 * Approves submitted time: prices it again with the rates in force for its date (under the
 * contributor's lock), keeps the contributor's kind, moves the whole amount from the budget to
 * what the contributor is owed, and tells the contributor (time_approved). An earnings limit never refuses an approval: money counts
 * when it is paid, so the payout run applies the limit; here `warnings` forecasts it.
 *
 * Errors: as approveWork (not_found, invalid_state, self_approval_forbidden, budget_exceeded),
 * rate_not_found.
 */
export function approveTimeEntry(db: Db, context: WorkContext, entryId: string) {
  const { organisationId, now } = context;
  return approveWork(db, timeEntryWork, context, entryId, async (tx, entry, contributor, budget, loaded) => {
    const { quote, rateCardVersionId, inKind } = await priceWork(tx, organisationId, contributor, budget, entry, loaded.versions);
    return {
      amount: quote.amount,
      values: {
        rateCardVersionId,
        rateCardVersion: quote.rateCardVersion,
        value: quote.value,
        amount: quote.amount,
        withheld: 0,
        inKind,
        declined: contributor.paymentMethod === 'declined',
        limitOutcome: null,
        flagged: false,
        explanation: quote.explanation,
        warnings: [...quote.warnings, ...(await forecast(tx, organisationId, contributor.id, budget.currency, quote.amount, londonDate(now), loaded.limitVersions))],
      },
      afterwards: (tx: Db) => tellTimeApproved(tx, organisationId, entry, quote.amount, budget.currency, now, loaded.recipients),
    };
  });
}

/**
 * The contributor hears that their time was approved and what they are owed for it: one message
 * per entry (its id makes it unique), also when a coordinator approves a week's entries at once,
 * because each approval is its own decision that may succeed or be refused alone. Nothing when
 * nothing becomes owed (in-kind time, or a contributor who declined payment): "you are owed
 * £0.00" would only confuse.
 */
async function tellTimeApproved(tx: Db, organisationId: string, entry: TimeEntryRow, amount: number, currency: string, now: Date, recipients: Recipient[] | null) {
  if (amount <= 0) return;
  await queueNotification(
    tx,
    organisationId,
    {
      kind: 'time_approved',
      // Read with the entry (approvable-work/load.ts).
      recipients: recipients ?? (await contributorRecipients(tx, organisationId, entry.contributorId)),
      link: '/my',
      data: { timeEntryId: entry.id, amount, currency, workDate: entry.date },
      about: `time_entry:${entry.id}`,
      contributorId: entry.contributorId,
    },
    now,
  );
}
