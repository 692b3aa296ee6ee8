import { and, asc, eq, gt, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { contributors, expenses, ledgerAccounts, payoutItemLines, payoutItems, payoutRuns, timeEntries } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { contributorAccount, type PostingInput } from '../../domain/ledger.js';
import type { Component, PayoutMethod } from '../../domain/enums.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import { limitOn, periodOf } from '../../domain/earnings-limit.js';
import { londonDate } from '../../domain/uk-time.js';
import { getBudgetRow } from '../budgets/service.js';
import { earningsCountedBetween, loadLimitVersions } from '../contributors/earnings-limits.js';
import { allocateWork } from './allocation.js';
import { planRun } from './plan.js';
import { toPayoutItemResponse, toPayoutRunResponse, type PayoutRunResponse } from './views.js';
import { postTransaction } from '../ledger/service.js';

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
}

/**
 * Drafts a payout run: one item per contributor for what they are owed in the currency
 * (optionally only from one budget, for some contributors or methods), with earnings limits
 * applied to the period containing today's Europe/London date (see plan.ts). Contributors who
 * cannot be paid, or whose earnings a limit holds, are listed under `skipped` with the reason.
 * A draft moves no money.
 */
export async function draftPayoutRun(db: Db, organisationId: string, actor: Actor, input: DraftInput, now: Date): Promise<PayoutRunResponse> {
  if (!actor.id) throw new AppError('forbidden', 'A payout run must be drafted by an identified user or token.');
  return inTransaction(db, async (tx) => {
    // The budget must be this organisation's (another's answers 404, like any id).
    if (input.budgetId) await getBudgetRow(tx, organisationId, input.budgetId);
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
        filters: { contributorIds: input.contributorIds, methods: input.methods },
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
    return view;
  });
}

async function loadRun(db: Db, organisationId: string, run: RunRow): Promise<PayoutRunResponse> {
  const items = await db
    .select()
    .from(payoutItems)
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.runId, run.id)))
    .orderBy(asc(payoutItems.id));
  return toPayoutRunResponse(run, items);
}

async function lockRun(tx: Db, organisationId: string, runId: string): Promise<RunRow> {
  if (!isUuid(runId)) throw notFound('The payout run');
  const [run] = await tx
    .select()
    .from(payoutRuns)
    .where(and(eq(payoutRuns.organisationId, organisationId), eq(payoutRuns.id, runId)))
    .for('update');
  if (!run) throw notFound('The payout run');
  return run;
}

export async function getPayoutRun(db: Db, organisationId: string, runId: string): Promise<PayoutRunResponse> {
  if (!isUuid(runId)) throw notFound('The payout run');
  const [run] = await db.select().from(payoutRuns).where(and(eq(payoutRuns.organisationId, organisationId), eq(payoutRuns.id, runId)));
  if (!run) throw notFound('The payout run');
  return loadRun(db, organisationId, run);
}

export async function listPayoutRuns(db: Db, organisationId: string, filter: { status?: RunRow['status'] }, limit: number, afterId?: string) {
  const conditions: SQL[] = [eq(payoutRuns.organisationId, organisationId)];
  if (filter.status) conditions.push(eq(payoutRuns.status, filter.status));
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
    if (run.createdBy === actor.id) {
      throw new AppError('four_eyes_required', 'A payout run must be approved by someone other than the person who drafted it.');
    }
    const items = await tx
      .select()
      .from(payoutItems)
      .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.runId, run.id)))
      .orderBy(asc(payoutItems.id));
    if (approverContributorId && items.some((i) => i.contributorId === approverContributorId)) {
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

async function lockItem(tx: Db, organisationId: string, itemId: string): Promise<ItemRow> {
  if (!isUuid(itemId)) throw notFound('The payout item');
  const [item] = await tx
    .select()
    .from(payoutItems)
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.id, itemId)))
    .for('update');
  if (!item) throw notFound('The payout item');
  return item;
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
  const [updated] = await tx
    .update(payoutItems)
    .set({
      status: 'paid',
      paidAt: now,
      paymentDate: londonDate(now),
      updatedAt: now,
      reference: details.reference ?? item.reference,
      stripeTransferId: details.stripeTransferId ?? item.stripeTransferId,
      lastError: null,
    })
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.id, item.id)))
    .returning();
  await recordAudit(tx, organisationId, actor, {
    action: 'payout_item.paid',
    entityType: 'payout_item',
    entityId: item.id,
    before: { status: item.status },
    after: { status: 'paid', reference: updated!.reference, stripeTransferId: updated!.stripeTransferId },
  });
  return updated!;
}

/**
 * Records an item as failed before its money left: in transit → owed, so it can be paid in a
 * later run. The caller holds the item's lock.
 */
async function failItem(tx: Db, organisationId: string, actor: Actor, item: ItemRow, reason: string, now: Date): Promise<ItemRow> {
  await postTransaction(tx, organisationId, {
    type: 'payout_failed',
    referenceType: 'payout_item',
    referenceId: item.id,
    effectiveDate: londonDate(now),
    currency: item.currency,
    description: reason,
    createdBy: actor.id,
    postings: movePostings([item], await linesOf(tx, organisationId, [item.id]), 'in_transit', 'owed'),
  });
  const [updated] = await tx
    .update(payoutItems)
    .set({ status: 'failed', failureReason: reason, failedAt: now, updatedAt: now })
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.id, item.id)))
    .returning();
  await unlinkWork(tx, organisationId, item.id);
  await recordAudit(tx, organisationId, actor, {
    action: 'payout_item.failed',
    entityType: 'payout_item',
    entityId: item.id,
    before: { status: item.status },
    after: { status: 'failed', failureReason: reason },
  });
  return updated!;
}

/**
 * Returns money Stripe took back (transfer.reversed) from paid to owed and fails the item.
 * `reversedTotal` is Stripe's cumulative amount_reversed, so deliveries in any order and any
 * number of times return exactly what was reversed. The caller holds the item's lock.
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
  await tx
    .update(payoutItems)
    .set({
      reversedAmount: item.reversedAmount + delta,
      status: 'failed',
      failureReason: fullyReversed ? 'The Stripe transfer was reversed' : 'The Stripe transfer was partly reversed',
      failedAt: now,
      updatedAt: now,
    })
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.id, item.id)));
  await recordAudit(tx, organisationId, actor, {
    action: 'payout_item.reversed',
    entityType: 'payout_item',
    entityId: item.id,
    before: { status: item.status, reversedAmount: item.reversedAmount },
    after: { status: 'failed', reversedAmount: item.reversedAmount + delta },
  });
}

/**
 * The Stripe payout executor has the transfer for an item (made now, or found again after a
 * lost response): records the item paid, in the caller's transaction, unless it was settled
 * meanwhile (a webhook, another attempt).
 */
export async function recordTransferPaid(
  tx: Db,
  actor: Actor,
  payment: { organisationId: string; itemId: string; transferId: string },
  now: Date,
): Promise<void> {
  const item = await lockUnsettled(tx, payment.organisationId, payment.itemId);
  if (item) await settleItemPaid(tx, payment.organisationId, actor, item, { stripeTransferId: payment.transferId }, now);
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

/** Marks a manual (bank transfer or voucher) item paid. Errors: not_found, invalid_state. */
export async function markItemPaid(db: Db, organisationId: string, actor: Actor, itemId: string, reference: string, now: Date) {
  return inTransaction(db, async (tx) => {
    const item = await lockItem(tx, organisationId, itemId);
    assertManualProcessing(item);
    return toPayoutItemResponse(await settleItemPaid(tx, organisationId, actor, item, { reference }, now));
  });
}

/** Marks a manual item failed; its money returns to owed. Errors: not_found, invalid_state. */
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
