import { and, asc, eq, gt, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { organisationRow, type Db } from '../../db/client.js';
import { contributors, expenses, ledgerAccounts, notifications, payoutItemLines, payoutItems, payoutRuns, timeEntries, users } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { contributorAccount, type PostingInput } from '../../domain/ledger.js';
import type { Component, PayoutMethod } from '../../domain/enums.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { contributorOfPerson, personBehind } from '../../lib/people.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import { limitOn, periodOf } from '../../domain/earnings-limit.js';
import { londonDate } from '../../domain/uk-time.js';
import { getBudgetRow } from '../budgets/service.js';
import { earningsCountedBetween, loadLimitVersions } from '../contributors/earnings-limits.js';
import { allocateWork } from './allocation.js';
import { planRun } from './plan.js';
import { failureInWords, PARTLY_REVERSED, REVERSED, toPayoutItemResponse, toPayoutRunResponse, type PayoutRunResponse } from './views.js';
import { postTransaction } from '../ledger/service.js';
import { contributorRecipients, queueNotification, staffRecipients } from '../notifications/outbox.js';

function* chunks<T>(list: T[], size: number): Generator<T[]> {
  for (let i = 0; i < list.length; i += size) yield list.slice(i, i + size);
}

type RunRow = typeof payoutRuns.$inferSelect;
type ItemRow = typeof payoutItems.$inferSelect;
type LineRow = typeof payoutItemLines.$inferSelect;


export interface DraftInput {
  currency: string;
  budgetId?: string;
  contributorIds?: string[];
  methods?: PayoutMethod[];
  /**
   * Pay again: only the contributors whose items failed in this run (of the organisation, in
   * the same currency). The service works out who they are, in the draft's own transaction, so
   * a script and the finance page ask for the same thing the same way and the run records what
   * it was for (`filters.failedFrom`).
   */
  failedFrom?: string;
}

/**
 * Drafts a payout run: one item per contributor for what they are owed in the currency
 * (optionally only from one budget, for some contributors or methods), with earnings limits
 * applied to the period containing today's Europe/London date (see plan.ts). Contributors who
 * cannot be paid, or whose earnings a limit holds, are listed under `skipped` with the reason.
 * A draft moves no money. A run drafted by a person or a token tells the other finance users it
 * waits for their approval (the schedule, drafting as `system`, tells them itself).
 *
 * Errors: not_found (the budget, or the run named by failedFrom), invalid_state (failedFrom: a
 * run in another currency, one where nothing failed, or nobody whose payment failed is owed now).
 */
export async function draftPayoutRun(db: Db, organisationId: string, actor: Actor, input: DraftInput, now: Date): Promise<PayoutRunResponse> {
  if (!actor.id) throw new AppError('forbidden', 'A payout run must be drafted by an identified user or token.');
  return inTransaction(db, async (tx) => {
    // The budget must be this organisation's (another's answers 404, like any id).
    if (input.budgetId) await getBudgetRow(tx, organisationId, input.budgetId);
    if (input.failedFrom) input = { ...input, contributorIds: await failedContributors(tx, organisationId, input.failedFrom, input.currency) };
    const conditions: SQL[] = [
      eq(ledgerAccounts.organisationId, organisationId),
      eq(ledgerAccounts.type, 'contributor_owed'),
      eq(ledgerAccounts.currency, input.currency),
      gt(ledgerAccounts.balance, 0),
    ];
    if (input.budgetId) conditions.push(isUuid(input.budgetId) ? eq(ledgerAccounts.budgetId, input.budgetId) : sql`false`);
    if (input.contributorIds) {
      const ids = input.contributorIds.filter(isUuid);
      conditions.push(ids.length ? inArray(ledgerAccounts.contributorId, ids) : sql`false`);
    }
    const owed = await tx
      .select({
        contributorId: contributors.id,
        paymentMethod: contributors.paymentMethod,
        stripeAccountId: contributors.stripeAccountId,
        stripeReady: contributors.stripePayoutsEnabled,
        budgetId: ledgerAccounts.budgetId,
        component: ledgerAccounts.component,
        balance: ledgerAccounts.balance,
      })
      .from(ledgerAccounts)
      .innerJoin(
        contributors,
        and(eq(contributors.organisationId, ledgerAccounts.organisationId), eq(contributors.id, ledgerAccounts.contributorId)),
      )
      .where(and(...conditions))
      .orderBy(asc(contributors.id), asc(ledgerAccounts.code));
    if (input.failedFrom && !owed.length) {
      throw new AppError('invalid_state', 'Nobody whose payment failed in that run is owed money now: they have been paid since.');
    }

    const paymentDate = londonDate(now);
    const plan = await planRun(
      tx,
      organisationId,
      input,
      owed.map((o) => ({ ...o, budgetId: o.budgetId!, component: o.component! })),
      paymentDate,
    );
    const runId = newId();
    const items = plan.items.map((planned) => {
      const itemId = newId();
      return {
        item: {
          organisationId,
          id: itemId,
          runId,
          contributorId: planned.contributorId,
          currency: input.currency,
          amount: planned.earnings + planned.expenses,
          earnings: planned.earnings,
          expenses: planned.expenses,
          carriedForward: planned.carriedForward,
          warnings: planned.warnings,
          paymentDate,
          method: planned.method,
          stripeAccountId: planned.stripeAccountId,
        },
        lines: planned.lines.map((l) => ({ organisationId, itemId, ...l })),
      };
    });
    const total = items.reduce((sum, i) => sum + i.item.amount, 0);
    const [run] = await tx
      .insert(payoutRuns)
      .values({
        organisationId,
        id: runId,
        currency: input.currency,
        budgetId: input.budgetId ?? null,
        total,
        filters: { contributorIds: input.contributorIds, methods: input.methods, failedFrom: input.failedFrom },
        skipped: plan.skipped,
        createdBy: actor.id!,
        createdAt: now,
      })
      .returning();
    // In chunks: PostgreSQL takes at most 65,535 parameters a statement.
    for (const chunk of chunks(items.map((i) => i.item), 2000)) await tx.insert(payoutItems).values(chunk);
    for (const chunk of chunks(items.flatMap((i) => i.lines), 2000)) await tx.insert(payoutItemLines).values(chunk);
    const view = await loadRun(tx, organisationId, run!);
    await recordAudit(tx, organisationId, actor, { action: 'payout_run.drafted', entityType: 'payout_run', entityId: runId, after: view });
    if (actor.type !== 'system') await tellFinanceRunAwaits(tx, organisationId, actor, view, now);
    return view;
  });
}

/**
 * The contributors whose items failed in a run, for paying them again.
 * Errors: not_found (no such run here), invalid_state (another currency, or nothing failed).
 */
async function failedContributors(tx: Db, organisationId: string, runId: string, currency: string): Promise<string[]> {
  const run = await organisationRow(tx, payoutRuns, 'The payout run', organisationId, runId);
  if (run.currency !== currency) throw new AppError('invalid_state', `That run paid in ${run.currency}, not ${currency}.`);
  const failed = await tx
    .selectDistinct({ contributorId: payoutItems.contributorId })
    .from(payoutItems)
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.runId, runId), eq(payoutItems.status, 'failed')))
    .orderBy(asc(payoutItems.contributorId));
  if (!failed.length) throw new AppError('invalid_state', 'No payment in that run failed, so there is nobody to pay again.');
  return failed.map((f) => f.contributorId);
}

async function loadRun(db: Db, organisationId: string, run: RunRow): Promise<PayoutRunResponse> {
  const items = await db
    .select()
    .from(payoutItems)
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.runId, run.id)))
    .orderBy(asc(payoutItems.id));
  return toPayoutRunResponse(run, items);
}

function lockRun(tx: Db, organisationId: string, runId: string): Promise<RunRow> {
  return organisationRow(tx, payoutRuns, 'The payout run', organisationId, runId, 'for update');
}

export async function getPayoutRun(db: Db, organisationId: string, runId: string): Promise<PayoutRunResponse> {
  return loadRun(db, organisationId, await organisationRow(db, payoutRuns, 'The payout run', organisationId, runId));
}

/**
 * A page of runs in id order. `failedSince` keeps the runs with an item that failed on or after
 * that Europe/London date (the finance page's list of payments to pay again).
 */
export async function listPayoutRuns(
  db: Db,
  organisationId: string,
  filter: { status?: RunRow['status']; failedSince?: string },
  limit: number,
  afterId?: string,
) {
  const conditions: SQL[] = [eq(payoutRuns.organisationId, organisationId)];
  if (filter.status) conditions.push(eq(payoutRuns.status, filter.status));
  if (filter.failedSince) {
    conditions.push(sql`exists (
      select 1 from ${payoutItems}
       where ${payoutItems.organisationId} = ${payoutRuns.organisationId} and ${payoutItems.runId} = ${payoutRuns.id}
         and ${payoutItems.status} = 'failed'
         and (${payoutItems.failedAt} at time zone 'Europe/London')::date >= ${filter.failedSince})`);
  }
  if (afterId) conditions.push(gt(payoutRuns.id, afterId));
  const runs = await db.select().from(payoutRuns).where(and(...conditions)).orderBy(asc(payoutRuns.id)).limit(limit + 1);
  return Promise.all(runs.map((run) => loadRun(db, organisationId, run)));
}

async function linesOf(tx: Db, organisationId: string, itemIds: string[]): Promise<LineRow[]> {
  if (!itemIds.length) return [];
  return tx
    .select()
    .from(payoutItemLines)
    .where(and(eq(payoutItemLines.organisationId, organisationId), inArray(payoutItemLines.itemId, itemIds)))
    .orderBy(asc(payoutItemLines.itemId), asc(payoutItemLines.budgetId), asc(payoutItemLines.component));
}

/** The item's money is owed again (it failed or was reversed): its work waits for a new item. */
async function unlinkWork(tx: Db, organisationId: string, itemId: string) {
  for (const table of [timeEntries, expenses]) {
    await tx
      .update(table)
      .set({ payoutItemId: null })
      .where(and(eq(table.organisationId, organisationId), eq(table.payoutItemId, itemId)));
  }
}

type Bucket = 'owed' | 'in_transit' | 'paid';

/** Postings that move each line of the items from one contributor bucket to another. */
function movePostings(items: ItemRow[], lines: LineRow[], from: Bucket, to: Bucket, amounts?: Map<string, number>): PostingInput[] {
  const contributorOf = new Map(items.map((i) => [i.id, i.contributorId]));
  return lines.flatMap((line) => {
    const amount = amounts ? (amounts.get(`${line.itemId}|${line.budgetId}|${line.component}`) ?? 0) : line.amount;
    if (amount === 0) return [];
    const contributorId = contributorOf.get(line.itemId)!;
    const component = line.component as Component;
    return [
      { account: contributorAccount(contributorId, from, component, line.budgetId), amount: -amount },
      { account: contributorAccount(contributorId, to, component, line.budgetId), amount },
    ];
  });
}

/**
 * Approves a draft run: a different user than its creator (four eyes), exactly once (the run
 * row is locked). Moves every item's money from owed to in transit in one ledger transaction
 * and marks the items processing; the caller then queues the Stripe items.
 *
 * Earnings limits are checked again for the approval's Europe/London date: another run may
 * have paid into the period since the draft, or the day may fall in a new period.
 *
 * Errors: not_found, invalid_state (not a draft, owed balances changed since the draft, or an
 * item would now pass its earnings limit), four_eyes_required, self_approval_forbidden (the
 * run pays the approving person), stripe_not_configured (the run has Stripe items and Stripe
 * is not set up).
 */
export async function approvePayoutRun(
  db: Db,
  organisationId: string,
  actor: Actor,
  runId: string,
  now: Date,
  stripeConfigured: boolean,
  /** The contributor the approving person is linked to, if any: they may not approve a run that pays them. */
  approverContributorId: string | null = null,
): Promise<PayoutRunResponse> {
  return inTransaction(db, async (tx) => {
    const run = await lockRun(tx, organisationId, runId);
    if (run.status !== 'draft') throw new AppError('invalid_state', `The payout run is ${run.status}, not a draft.`);
    // Four eyes counts people: an API token is the person who made it, so one person cannot
    // draft with one credential and approve with another.
    const approver = await personBehind(tx, organisationId, actor.id);
    const drafter = await personBehind(tx, organisationId, run.createdBy);
    if (run.createdBy === actor.id || (approver !== null && approver === drafter)) {
      throw new AppError('four_eyes_required', 'A payout run must be approved by someone other than the person who drafted it.');
    }
    const items = await tx
      .select()
      .from(payoutItems)
      .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.runId, run.id)))
      .orderBy(asc(payoutItems.id));
    const approverIs = approverContributorId ?? (await contributorOfPerson(tx, organisationId, approver));
    if (approverIs && items.some((i) => i.contributorId === approverIs)) {
      throw new AppError('self_approval_forbidden', 'This run pays you, so someone else must approve it.');
    }
    if (!stripeConfigured && items.some((i) => i.method === 'stripe')) {
      throw new AppError('stripe_not_configured', 'This run pays some people through Stripe, but Stripe is not configured (STRIPE_SECRET_KEY).');
    }
    let ledgerTransactionId: string | null = null;
    const paymentDate = londonDate(now);
    if (items.length) {
      await assertLimitsStillHold(tx, organisationId, run.currency, items, paymentDate);
      const lines = await linesOf(tx, organisationId, items.map((i) => i.id));
      try {
        ledgerTransactionId = await postTransaction(tx, organisationId, {
          type: 'payout_approval',
          referenceType: 'payout_run',
          referenceId: run.id,
          effectiveDate: londonDate(now),
          currency: run.currency,
          createdBy: actor.id,
          postings: movePostings(items, lines, 'owed', 'in_transit'),
        });
      } catch (error) {
        if (error instanceof AppError && error.code === 'invalid_state') {
          throw new AppError(
            'invalid_state',
            'What some contributors are owed has changed since this run was drafted (another run or a reversal). Cancel it and draft a new one.',
          );
        }
        throw error;
      }
      await tx
        .update(payoutItems)
        .set({ status: 'processing', paymentDate, updatedAt: now })
        .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.runId, run.id)));
      const contributorOf = new Map(items.map((i) => [i.id, i.contributorId]));
      await allocateWork(
        tx,
        organisationId,
        lines.map((l) => ({ ...l, contributorId: contributorOf.get(l.itemId)!, component: l.component as Component })),
        run.createdAt,
      );
    }
    const [updated] = await tx
      .update(payoutRuns)
      .set({ status: 'approved', approvedBy: actor.id, approvedAt: now, ledgerTransactionId })
      .where(and(eq(payoutRuns.organisationId, organisationId), eq(payoutRuns.id, run.id)))
      .returning();
    const view = await loadRun(tx, organisationId, updated!);
    await recordAudit(tx, organisationId, actor, {
      action: 'payout_run.approved',
      entityType: 'payout_run',
      entityId: run.id,
      before: { status: run.status },
      after: { status: view.status, total: view.total, ledgerTransactionId },
    });
    await tellLimitOutcomes(tx, organisationId, run, items, paymentDate, now);
    return view;
  });
}

/**
 * An earnings limit with policy block or split still holds for each item on `paymentDate`,
 * counting what was paid or set on its way in the period since the run was drafted.
 * Errors: invalid_state.
 */
async function assertLimitsStillHold(tx: Db, organisationId: string, currency: string, items: ItemRow[], paymentDate: string) {
  const withEarnings = items.filter((i) => i.earnings > 0);
  const versions = await loadLimitVersions(tx, organisationId, withEarnings.map((i) => i.contributorId));
  const capped = withEarnings.flatMap((item) => {
    const limit = limitOn(versions.get(item.contributorId) ?? [], paymentDate);
    return limit && limit.policy !== 'warn' ? [{ item, limit }] : [];
  });
  // Two runs approved at once for one person must not both fit the same headroom: lock the
  // people whose limit caps this run (in id order, as every path locks contributors before
  // ledger accounts) before counting what their periods already hold.
  const ids = [...new Set(capped.map((c) => c.item.contributorId))].sort();
  for (const chunk of chunks(ids, 2000)) {
    await tx
      .select({ id: contributors.id })
      .from(contributors)
      .where(and(eq(contributors.organisationId, organisationId), inArray(contributors.id, chunk)))
      .orderBy(asc(contributors.id))
      .for('update');
  }
  for (const { item, limit } of capped) {
    const period = periodOf(limit, paymentDate);
    const counted = await earningsCountedBetween(tx, organisationId, item.contributorId, currency, period.start, period.end);
    if (counted + item.earnings > limit.amount) {
      throw new AppError(
        'invalid_state',
        `Paying this run on ${paymentDate} would take a contributor past their earnings limit for ${period.start} to ${period.end} (more has been paid in that period since the run was drafted, or it is a new period). Cancel it and draft a new one.`,
      );
    }
  }
}

/** Cancels a draft (no money has moved). Errors: not_found, invalid_state. */
export async function cancelPayoutRun(db: Db, organisationId: string, actor: Actor, runId: string, now: Date) {
  return inTransaction(db, async (tx) => {
    const run = await lockRun(tx, organisationId, runId);
    if (run.status !== 'draft') throw new AppError('invalid_state', `Only a draft can be canceled; this run is ${run.status}.`);
    await tx
      .update(payoutItems)
      .set({ status: 'canceled', updatedAt: now })
      .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.runId, run.id)));
    const [updated] = await tx
      .update(payoutRuns)
      .set({ status: 'canceled', canceledBy: actor.id, canceledAt: now })
      .where(and(eq(payoutRuns.organisationId, organisationId), eq(payoutRuns.id, run.id)))
      .returning();
    await recordAudit(tx, organisationId, actor, {
      action: 'payout_run.canceled',
      entityType: 'payout_run',
      entityId: run.id,
      before: { status: run.status },
      after: { status: 'canceled' },
    });
    return loadRun(tx, organisationId, updated!);
  });
}

function lockItem(tx: Db, organisationId: string, itemId: string): Promise<ItemRow> {
  return organisationRow(tx, payoutItems, 'The payout item', organisationId, itemId, 'for update');
}

/**
 * Changes an item and audits the change, in the caller's transaction, which holds the item's
 * lock: `before` is what the change replaces, `after` is drawn from the item as changed.
 */
async function changeItem(
  tx: Db,
  organisationId: string,
  actor: Actor,
  item: ItemRow,
  action: string,
  change: Partial<typeof payoutItems.$inferInsert>,
  before: Record<string, unknown>,
  after: (updated: ItemRow) => Record<string, unknown>,
): Promise<ItemRow> {
  const [updated] = await tx
    .update(payoutItems)
    .set(change)
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.id, item.id)))
    .returning();
  await recordAudit(tx, organisationId, actor, { action, entityType: 'payout_item', entityId: item.id, before, after: after(updated!) });
  return updated!;
}

/**
 * Records an item as paid: in transit → paid, in the caller's transaction, with the item
 * locked by the caller. Returns the updated item.
 */
async function settleItemPaid(
  tx: Db,
  organisationId: string,
  actor: Actor,
  item: ItemRow,
  details: { reference?: string; stripeTransferId?: string },
  now: Date,
): Promise<ItemRow> {
  await postTransaction(tx, organisationId, {
    type: 'payout_paid',
    referenceType: 'payout_item',
    referenceId: item.id,
    effectiveDate: londonDate(now),
    currency: item.currency,
    createdBy: actor.id,
    postings: movePostings([item], await linesOf(tx, organisationId, [item.id]), 'in_transit', 'paid'),
  });
  return changeItem(
    tx,
    organisationId,
    actor,
    item,
    'payout_item.paid',
    {
      status: 'paid',
      paidAt: now,
      paymentDate: londonDate(now),
      updatedAt: now,
      reference: details.reference ?? item.reference,
      stripeTransferId: details.stripeTransferId ?? item.stripeTransferId,
      lastError: null,
    },
    { status: item.status },
    (updated) => ({ status: 'paid', reference: updated.reference, stripeTransferId: updated.stripeTransferId }),
  );
}

/** What the ledger says of a failed payout item (docs/personal-data.md: the ledger holds no names). */
export const FAILED_DESCRIPTION = 'Payout item failed: its money is owed again';

/**
 * Records an item as failed before its money left: in transit → owed, so it can be paid in a
 * later run, and tells the contributor and finance. The caller holds the item's lock.
 */
async function failItem(tx: Db, organisationId: string, actor: Actor, item: ItemRow, reason: string, now: Date): Promise<ItemRow> {
  await postTransaction(tx, organisationId, {
    type: 'payout_failed',
    referenceType: 'payout_item',
    referenceId: item.id,
    effectiveDate: londonDate(now),
    currency: item.currency,
    // Not the reason: the ledger is append-only, and finance's words or Stripe's message (which
    // quotes the connected account) can name the person. The reason stays on the item.
    description: FAILED_DESCRIPTION,
    createdBy: actor.id,
    postings: movePostings([item], await linesOf(tx, organisationId, [item.id]), 'in_transit', 'owed'),
  });
  const updated = await changeItem(
    tx,
    organisationId,
    actor,
    item,
    'payout_item.failed',
    { status: 'failed', failureReason: reason, failedAt: now, updatedAt: now },
    { status: item.status },
    () => ({ status: 'failed', failureReason: reason }),
  );
  await unlinkWork(tx, organisationId, item.id);
  await tellPaymentFailed(tx, organisationId, updated, updated.amount, `item:${item.id}`, now);
  return updated;
}

/**
 * Returns money Stripe took back (transfer.reversed) from paid to owed and fails the item.
 * `reversedTotal` is Stripe's cumulative amount_reversed, so deliveries in any order and any
 * number of times return exactly what was reversed. The contributor and finance are told of
 * each reversal. The caller holds the item's lock.
 */
async function applyTransferReversal(
  tx: Db,
  organisationId: string,
  actor: Actor,
  item: ItemRow,
  reversedTotal: number,
  now: Date,
): Promise<void> {
  const delta = Math.min(reversedTotal, item.amount) - item.reversedAmount;
  // A paid item, or one that already failed through an earlier (partial) reversal of its
  // transfer: Stripe's total only grows, so only the difference is returned.
  if (delta <= 0 || !(item.status === 'paid' || (item.status === 'failed' && item.reversedAmount > 0))) return;
  // Allocate the reversal to the item's lines in order.
  const lines = await linesOf(tx, organisationId, [item.id]);
  const amounts = new Map<string, number>();
  let remaining = delta;
  let alreadyReversed = item.reversedAmount;
  for (const line of lines) {
    const lineLeft = Math.max(0, line.amount - alreadyReversed);
    alreadyReversed = Math.max(0, alreadyReversed - line.amount);
    const take = Math.min(lineLeft, remaining);
    if (take > 0) amounts.set(`${line.itemId}|${line.budgetId}|${line.component}`, take);
    remaining -= take;
  }
  await postTransaction(tx, organisationId, {
    type: 'payout_reversed',
    referenceType: 'payout_item',
    referenceId: item.id,
    effectiveDate: londonDate(now),
    currency: item.currency,
    description: 'Stripe transfer reversed',
    createdBy: actor.id,
    postings: movePostings([item], lines, 'paid', 'owed', amounts),
  });
  const fullyReversed = item.reversedAmount + delta >= item.amount;
  if (fullyReversed) await unlinkWork(tx, organisationId, item.id);
  const updated = await changeItem(
    tx,
    organisationId,
    actor,
    item,
    'payout_item.reversed',
    { reversedAmount: item.reversedAmount + delta, status: 'failed', failureReason: fullyReversed ? REVERSED : PARTLY_REVERSED, failedAt: now, updatedAt: now },
    { status: item.status, reversedAmount: item.reversedAmount },
    () => ({ status: 'failed', reversedAmount: item.reversedAmount + delta }),
  );
  // Each reversal Stripe reports is its own event (its cumulative total only grows): the
  // person hears of the money taken back each time, and only once for each.
  await tellPaymentFailed(tx, organisationId, updated, delta, `item:${item.id}:reversed:${item.reversedAmount + delta}`, now);
}

/**
 * The Stripe payout executor has the transfer for an item (made now, or found again after a
 * lost response): records the item paid and tells the contributor, in the caller's
 * transaction, unless it was settled meanwhile (a webhook, another attempt).
 */
export async function recordTransferPaid(
  tx: Db,
  actor: Actor,
  payment: { organisationId: string; itemId: string; transferId: string },
  now: Date,
): Promise<void> {
  const item = await lockUnsettled(tx, payment.organisationId, payment.itemId);
  if (!item) return;
  const paid = await settleItemPaid(tx, payment.organisationId, actor, item, { stripeTransferId: payment.transferId }, now);
  await tellPaymentSent(tx, payment.organisationId, paid, now);
}

/**
 * Stripe refused an item's transfer for good: the item fails and its money returns to owed,
 * in the caller's transaction, unless it was settled meanwhile.
 */
export async function recordTransferRefused(
  tx: Db,
  actor: Actor,
  refusal: { organisationId: string; itemId: string; reason: string },
  now: Date,
): Promise<void> {
  const item = await lockUnsettled(tx, refusal.organisationId, refusal.itemId);
  if (item) await failItem(tx, refusal.organisationId, actor, item, refusal.reason, now);
}

/** The item, locked, while it still waits for the outcome of its Stripe transfer; else null. */
async function lockUnsettled(tx: Db, organisationId: string, itemId: string): Promise<ItemRow | null> {
  const item = await lockItem(tx, organisationId, itemId);
  return item.status === 'processing' && !item.stripeTransferId ? item : null;
}

/** What a Stripe event tells of a transfer: its id, and the metadata the executor gave it. */
export interface StripeTransferFacts {
  transferId: string;
  metadata?: Record<string, string> | null;
}

/**
 * Stripe reversed (part of) a transfer (transfer.reversed): returns what it took back from paid
 * to owed and fails the item, in the caller's transaction. `amountReversed` is Stripe's
 * cumulative amount_reversed. A reversal that overtakes the recording of its transfer (a lost
 * response, a crash) records the item paid first: Stripe says the transfer exists. Returns the
 * item's organisation, or null when no payout item is paid by the transfer.
 */
export async function recordTransferReversed(
  tx: Db,
  actor: Actor,
  transfer: StripeTransferFacts & { amountReversed: number },
  now: Date,
): Promise<{ organisationId: string } | null> {
  let item = await itemForTransfer(tx, transfer);
  if (!item) return null;
  if (item.status === 'processing' && item.method === 'stripe' && !item.stripeTransferId) {
    item = await settleItemPaid(tx, item.organisationId, actor, item, { stripeTransferId: transfer.transferId }, now);
  }
  await applyTransferReversal(tx, item.organisationId, actor, item, transfer.amountReversed, now);
  return { organisationId: item.organisationId };
}

/**
 * The payout item a transfer pays, locked: by the transfer id recorded on it, else by the item
 * id the transfer's metadata names (when the transfer is not recorded yet).
 */
async function itemForTransfer(tx: Db, transfer: StripeTransferFacts): Promise<ItemRow | null> {
  const [byTransfer] = await tx
    .select({ organisationId: payoutItems.organisationId, id: payoutItems.id })
    .from(payoutItems)
    .where(eq(payoutItems.stripeTransferId, transfer.transferId));
  if (byTransfer) return lockItem(tx, byTransfer.organisationId, byTransfer.id);
  const organisationId = transfer.metadata?.organisation_id;
  const itemId = transfer.metadata?.payout_item_id;
  if (!organisationId || !itemId || !isUuid(organisationId) || !isUuid(itemId)) return null;
  const [byMetadata] = await tx
    .select({ organisationId: payoutItems.organisationId, id: payoutItems.id, stripeTransferId: payoutItems.stripeTransferId })
    .from(payoutItems)
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.id, itemId)));
  if (!byMetadata || (byMetadata.stripeTransferId && byMetadata.stripeTransferId !== transfer.transferId)) return null;
  return lockItem(tx, byMetadata.organisationId, byMetadata.id);
}

/** Marks a manual (bank transfer or voucher) item paid and tells the contributor. Errors: not_found, invalid_state. */
export async function markItemPaid(db: Db, organisationId: string, actor: Actor, itemId: string, reference: string, now: Date) {
  return inTransaction(db, async (tx) => {
    const item = await lockItem(tx, organisationId, itemId);
    assertManualProcessing(item);
    const paid = await settleItemPaid(tx, organisationId, actor, item, { reference }, now);
    await tellPaymentSent(tx, organisationId, paid, now);
    return toPayoutItemResponse(paid);
  });
}

/**
 * Marks a manual item failed; its money returns to owed. The contributor hears why (finance's
 * reason) and finance the run's failures of the day. Errors: not_found, invalid_state.
 */
export async function markItemFailed(db: Db, organisationId: string, actor: Actor, itemId: string, reason: string, now: Date) {
  return inTransaction(db, async (tx) => {
    const item = await lockItem(tx, organisationId, itemId);
    assertManualProcessing(item);
    return toPayoutItemResponse(await failItem(tx, organisationId, actor, item, reason, now));
  });
}

function assertManualProcessing(item: ItemRow) {
  if (item.method === 'stripe') {
    throw new AppError('invalid_state', 'Stripe items are settled by Stripe, not marked by hand.');
  }
  if (item.status !== 'processing') {
    throw new AppError('invalid_state', `The payout item is ${item.status}; only an item of an approved run that is not yet settled can be marked.`);
  }
}

/**
 * Stripe items whose money is in transit but whose transfer is not recorded, untouched for
 * `idleMs` (every attempt touches updated_at): work the queue has lost, after a crash.
 */
export async function pendingStripeItems(db: Db, now: Date, idleMs: number, limit = 1000) {
  return db
    .select({ organisationId: payoutItems.organisationId, id: payoutItems.id })
    .from(payoutItems)
    .where(
      and(
        eq(payoutItems.status, 'processing'),
        eq(payoutItems.method, 'stripe'),
        sql`${payoutItems.stripeTransferId} is null`,
        lt(payoutItems.updatedAt, new Date(now.getTime() - idleMs)),
      ),
    )
    .limit(limit);
}

// ---------------------------------------------------------------------------------------------
// What people are told. Each message is queued in the transaction of the change it tells of
// (see notifications/outbox.ts), so it goes out exactly when the change commits. Data carries
// amounts, dates, counts and ids, never names; `about` makes each event its own message.

/** The contributor behind a payout item hears that it was paid, with the date that counts for benefits and tax. */
async function tellPaymentSent(tx: Db, organisationId: string, item: ItemRow, now: Date) {
  await queueNotification(
    tx,
    organisationId,
    {
      kind: 'payment_sent',
      recipients: await contributorRecipients(tx, organisationId, item.contributorId),
      link: '/my/statement',
      data: { itemId: item.id, amount: item.amount, currency: item.currency, method: item.method, paymentDate: item.paymentDate },
      about: `item:${item.id}`,
      contributorId: item.contributorId,
    },
    now,
  );
}

/**
 * A payment did not go through (`item` as it now is, failed): the contributor hears what, why
 * in plain words, and that the money is owed to them again; finance hears of the run's failures.
 */
async function tellPaymentFailed(tx: Db, organisationId: string, item: ItemRow, amount: number, about: string, now: Date) {
  await queueNotification(
    tx,
    organisationId,
    {
      kind: 'payment_failed',
      recipients: await contributorRecipients(tx, organisationId, item.contributorId),
      link: '/my/payment',
      data: { itemId: item.id, amount, currency: item.currency, reason: failureInWords(item.method, item.failureReason), failedOn: londonDate(now) },
      about,
      contributorId: item.contributorId,
    },
    now,
  );
  await tellFinanceOfFailures(tx, organisationId, item.runId, item.currency, now);
}

/**
 * Finance hears of a run's failures once a day (Europe/London), not once an item: Stripe can
 * refuse a whole run in a minute (an empty platform balance), and fifty emails would bury the one
 * thing to do, which is on the payments page. The message counts the run's items failed that day
 * when it is queued; while it waits to be sent, each further failure brings its count and total
 * up to date, so a burst ends in one email that counts all of it. The run's row is locked first,
 * so failures of one run recorded at once each count the others.
 */
async function tellFinanceOfFailures(tx: Db, organisationId: string, runId: string, currency: string, now: Date) {
  const today = londonDate(now);
  await tx
    .select({ id: payoutRuns.id })
    .from(payoutRuns)
    .where(and(eq(payoutRuns.organisationId, organisationId), eq(payoutRuns.id, runId)))
    .for('update');
  const [failed] = await tx
    .select({
      count: sql<number>`count(*)::int`,
      // A reversal fails an item for what Stripe took back, which may be part of it.
      total: sql<string>`coalesce(sum(case when ${payoutItems.reversedAmount} > 0 then ${payoutItems.reversedAmount} else ${payoutItems.amount} end), 0)`,
    })
    .from(payoutItems)
    .where(
      and(
        eq(payoutItems.organisationId, organisationId),
        eq(payoutItems.runId, runId),
        eq(payoutItems.status, 'failed'),
        sql`(${payoutItems.failedAt} at time zone 'Europe/London')::date = ${today}`,
      ),
    );
  const data = { runId, count: Number(failed?.count ?? 0), total: Number(failed?.total ?? 0), currency, date: today };
  await queueNotification(
    tx,
    organisationId,
    { kind: 'payments_failed', recipients: await staffRecipients(tx, organisationId, ['finance']), link: '/finance', data, about: `run:${runId}:failed:${today}`, contributorId: null },
    now,
  );
  await tx
    .update(notifications)
    .set({ data })
    .where(
      and(
        eq(notifications.organisationId, organisationId),
        eq(notifications.kind, 'payments_failed'),
        eq(notifications.status, 'queued'),
        sql`${notifications.data}->>'runId' = ${runId}`,
        sql`${notifications.data}->>'date' = ${today}`,
      ),
    );
}

/**
 * The finance users who could approve a run just drafted: not the person who drafted it (for a
 * token, the user it acts for), and not anyone the run pays. Nothing for a run with no items.
 */
async function tellFinanceRunAwaits(tx: Db, organisationId: string, actor: Actor, run: PayoutRunResponse, now: Date) {
  if (!run.items.length) return;
  const drafter = await personBehind(tx, organisationId, actor.id);
  const payees = new Set(run.items.map((i) => i.contributorId));
  const recipients = (await staffRecipients(tx, organisationId, ['finance'], [drafter])).filter((r) => r.userId !== null);
  const paid = recipients.length
    ? await tx
        .select({ id: users.id, contributorId: users.contributorId })
        .from(users)
        .where(and(eq(users.organisationId, organisationId), inArray(users.id, recipients.map((r) => r.userId!))))
    : [];
  const payeeUsers = new Set(paid.filter((u) => u.contributorId && payees.has(u.contributorId)).map((u) => u.id));
  await queueNotification(
    tx,
    organisationId,
    {
      kind: 'run_awaiting_approval',
      recipients: recipients.filter((r) => !payeeUsers.has(r.userId!)),
      link: `/finance/runs/${run.id}`,
      data: { runId: run.id, total: run.total, currency: run.currency, items: run.items.length },
      about: `run:${run.id}`,
      contributorId: null,
    },
    now,
  );
}

/**
 * What earnings limits did at approval, told to each person concerned: earnings held back
 * (`skipped`, reason earnings_limit) or cut at the limit (`carriedForward`), with the day they
 * can be paid from; and, once per limit period, that the earnings counted in their current
 * period have reached 80% of their limit.
 */
async function tellLimitOutcomes(tx: Db, organisationId: string, run: RunRow, items: ItemRow[], paymentDate: string, now: Date) {
  const tell = async (contributorId: string, kind: 'payment_held_earnings_limit' | 'limit_nearly_reached', about: string, data: Record<string, unknown>) =>
    queueNotification(
      tx,
      organisationId,
      { kind, recipients: await contributorRecipients(tx, organisationId, contributorId), link: '/my', data, about, contributorId },
      now,
    );
  for (const held of run.skipped.filter((s) => s.reason === 'earnings_limit')) {
    await tell(held.contributorId, 'payment_held_earnings_limit', `run:${run.id}:held:${held.contributorId}`, {
      runId: run.id,
      amount: held.amount,
      currency: run.currency,
      payableFrom: held.payableFrom ?? null,
    });
  }
  const paying = items.filter((i) => i.earnings > 0 || i.carriedForward > 0);
  const versions = await loadLimitVersions(tx, organisationId, [...new Set(paying.map((i) => i.contributorId))]);
  for (const item of paying) {
    const limit = limitOn(versions.get(item.contributorId) ?? [], paymentDate);
    if (!limit) continue;
    const period = periodOf(limit, paymentDate);
    if (item.carriedForward > 0) {
      await tell(item.contributorId, 'payment_held_earnings_limit', `item:${item.id}:carried`, {
        itemId: item.id,
        amount: item.carriedForward,
        currency: item.currency,
        payableFrom: period.nextStart,
      });
    }
    if (item.earnings === 0 || limit.amount <= 0) continue;
    const counted = await earningsCountedBetween(tx, organisationId, item.contributorId, item.currency, period.start, period.end);
    // 80% in whole pence: counted / limit >= 4 / 5.
    if (counted * 5 < limit.amount * 4) continue;
    await tell(item.contributorId, 'limit_nearly_reached', `limit:${item.contributorId}:${period.start}`, {
      counted,
      limit: limit.amount,
      currency: item.currency,
      periodStart: period.start,
      periodEnd: period.end,
      policy: limit.policy,
    });
  }
}
