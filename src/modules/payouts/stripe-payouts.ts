import { and, eq, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type Stripe from 'stripe';
import type { Db } from '../../db/client.js';
import { payoutItems } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { systemActor } from '../../domain/actor.js';
import { classifyStripeError, createStripeGate, type StripeGate } from '../../lib/stripe.js';
import { PAYOUT_DETAILS_CHANGED, payoutDetailsHeldSince } from '../contributors/payout-details.js';
import { recordTransferPaid, recordTransferRefused } from './service.js';

/**
 * The failure reason of an item whose payee's payout details changed after its run was
 * approved: code first, as Stripe's own reasons are, then what it means.
 */
export const HELD_FOR_PAYOUT_DETAILS =
  `${PAYOUT_DETAILS_CHANGED}: the bank details Stripe pays this person to changed after the run was approved. ` +
  'The money is owed again and is paid in a run after finance confirms the change.';

/** The Stripe idempotency key of an item's transfer: derived from the item, so retries replay. */
export const transferIdempotencyKey = (itemId: string) => `payout-item-${itemId}`;
/** Each item's transfer carries its own transfer_group, so it can be found again after 24 hours. */
export const transferGroup = (itemId: string) => `payout_item_${itemId}`;

/** Thrown for a transient failure: the job queue retries the item later with backoff. */
export class RetryLater extends Error {
  override name = 'RetryLater';
}

export interface StripePayoutDeps {
  db: Db;
  stripe: Stripe;
  now: () => Date;
  log: FastifyBaseLogger;
  /** Stripe requests per second this process may make (used when no `gate` is given). */
  maxRequestsPerSecond: number;
  /** The process's shared Stripe gate (pacer and 429 pause). */
  gate?: StripeGate;
}

export type ItemOutcome = 'paid' | 'failed' | 'skipped';

/**
 * Pays Stripe items: each call creates (or finds) the item's transfer and settles the item.
 *
 * Never pays twice: the transfer is created with an idempotency key derived from the item, and
 * from the second attempt on the item's transfer_group is searched first, so a response lost
 * after Stripe created the transfer (or a crash before the result was recorded) ends with the
 * one transfer recorded. The item row is locked only to record the result, never across the
 * call to Stripe.
 *
 * Requests go through the Stripe gate (lib/stripe.ts): throttled, and paused for a growing
 * interval after a 429, so the queue slows down instead of failing items.
 */
export function createStripePayoutExecutor(deps: StripePayoutDeps) {
  // One gate per process (app.stripeGate) so payouts, reconciliation and onboarding share
  // Stripe's allowance; a gate of its own where none is given (the demo, some tests).
  const stripeCall = deps.gate ?? createStripeGate(deps.maxRequestsPerSecond);

  return async function executeItem(organisationId: string, itemId: string): Promise<ItemOutcome> {
    const [item] = await deps.db
      .update(payoutItems)
      .set({ attempts: sql`${payoutItems.attempts} + 1`, updatedAt: deps.now() })
      .where(
        and(
          eq(payoutItems.organisationId, organisationId),
          eq(payoutItems.id, itemId),
          eq(payoutItems.status, 'processing'),
          eq(payoutItems.method, 'stripe'),
          sql`${payoutItems.stripeTransferId} is null`,
        ),
      )
      .returning();
    if (!item) return 'skipped'; // settled already, or not ours to pay
    const actor = systemActor('stripe-payouts');

    /** A Stripe error: a refusal fails the item (money back to owed); anything else is retried later. */
    const settleStripeError = async (error: unknown): Promise<ItemOutcome> => {
      const failure = classifyStripeError(error);
      if (failure.kind === 'permanent') {
        deps.log.warn({ itemId, reason: failure.reason }, 'Stripe refused the transfer; the item fails and its money returns to owed');
        await inTransaction(deps.db, (tx) =>
          recordTransferRefused(tx, actor, { organisationId, itemId: item.id, reason: failure.reason }, deps.now()),
        );
        return 'failed';
      }
      // A 429 that outlasted the gate's own retries has left the gate paused: the retry waits.
      await deps.db
        .update(payoutItems)
        .set({ lastError: failure.reason.slice(0, 500) })
        .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.id, item.id)));
      deps.log.info({ itemId, reason: failure.reason, attempt: item.attempts }, 'Stripe transfer will be retried');
      throw new RetryLater(failure.reason);
    };

    let transfer: Stripe.Transfer | undefined;
    if (item.attempts > 1) {
      try {
        const existing = await stripeCall(() => deps.stripe.transfers.list({ transfer_group: transferGroup(item.id), limit: 1 }));
        transfer = existing.data[0];
      } catch (error) {
        return settleStripeError(error);
      }
    }
    if (!transfer) {
      // Payment-diversion defence: no new transfer while a change of the payee's payout details
      // waits for finance, however long ago the run was approved. (A transfer found above was
      // made before; it is recorded as it is.) Stripe may report a change between this check and
      // the transfer: that moment is the one gap, and the change still holds every later payment.
      if (await payoutDetailsHeldSince(deps.db, organisationId, item.contributorId)) {
        deps.log.warn({ itemId }, 'payout details changed since approval: the item fails and its money returns to owed');
        await inTransaction(deps.db, (tx) =>
          recordTransferRefused(tx, actor, { organisationId, itemId: item.id, reason: HELD_FOR_PAYOUT_DETAILS }, deps.now()),
        );
        return 'failed';
      }
      try {
        transfer = await stripeCall(() =>
          deps.stripe.transfers.create(
            {
              amount: item.amount,
              currency: item.currency.toLowerCase(),
              destination: item.stripeAccountId!,
              transfer_group: transferGroup(item.id),
              description: 'Payment for co-production involvement',
              metadata: { payout_item_id: item.id, payout_run_id: item.runId, organisation_id: organisationId },
            },
            { idempotencyKey: transferIdempotencyKey(item.id) },
          ),
        );
      } catch (error) {
        return settleStripeError(error);
      }
    }

    const transferId = transfer.id;
    await inTransaction(deps.db, (tx) => recordTransferPaid(tx, actor, { organisationId, itemId: item.id, transferId }, deps.now()));
    return 'paid';
  };
}

export type StripePayoutExecutor = ReturnType<typeof createStripePayoutExecutor>;
