import { and, eq, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type Stripe from 'stripe';
import type { Db } from '../../db/client.js';
import { payoutItems } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { systemActor } from '../../domain/actor.js';
import { createPacer } from '../../lib/rate-limit.js';
import { classifyStripeError } from '../../lib/stripe.js';
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

/** What a paced Stripe call gives back, unsent, when a 429 pause began while it waited. */
const PAUSED = Symbol('paused by a 429');

/** Thrown for a transient failure: the job queue retries the item later with backoff. */
export class RetryLater extends Error {
  override name = 'RetryLater';
}

export interface StripePayoutDeps {
  db: Db;
  stripe: Stripe;
  now: () => Date;
  log: FastifyBaseLogger;
  /** Stripe requests per second this process may make. */
  maxRequestsPerSecond: number;
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
 * Requests are throttled to `maxRequestsPerSecond`; a 429 pauses every call of this executor
 * for a growing interval, so the queue slows down instead of failing items.
 */
export function createStripePayoutExecutor(deps: StripePayoutDeps) {
  // Spread out, and 3 % under the limit: Stripe counts requests in its own windows, which do
  // not line up with ours, and a request's start here is not its arrival there.
  const call = createPacer(Math.max(1, Math.floor(deps.maxRequestsPerSecond * 0.97)));
  // The 429 pause is timed on the real clock (Date.now), as the pacer and setTimeout are: it
  // paces requests to Stripe and is no domain time, so the injected clock (deps.now) stays out.
  let pausedUntil = 0;
  let pauseMs = 0;

  /**
   * One Stripe request, throttled. A 429 pauses every call of this executor for a growing
   * interval and is retried here a few times (the request is idempotent), so a brief excess costs
   * a pause, not the job queue's much longer backoff.
   */
  async function stripeCall<T>(fn: () => Promise<T>): Promise<T> {
    let sent = 0; // requests that reached Stripe
    for (;;) {
      const wait = pausedUntil - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        // A pause that began while this call waited in the pacer holds it too: it goes back to
        // wait, without sending anything and without counting as an attempt.
        const result = await call(() => (Date.now() < pausedUntil ? Promise.reject(PAUSED) : fn()));
        pauseMs = 0;
        return result;
      } catch (error) {
        if (error === PAUSED) continue;
        sent += 1;
        const failure = classifyStripeError(error);
        if (failure.kind !== 'transient' || !failure.rateLimited || sent >= 4) throw error;
        // Requests already in flight when a pause began answer 429 too: only a 429 after the
        // pause has ended makes the next pause longer, so side-by-side calls do not compound it.
        if (Date.now() >= pausedUntil) {
          pauseMs = Math.min(30_000, Math.max(250, pauseMs * 2));
          pausedUntil = Date.now() + pauseMs;
        }
      }
    }
  }

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
      if (failure.rateLimited) {
        pauseMs = Math.min(30_000, Math.max(500, pauseMs * 2));
        pausedUntil = Date.now() + pauseMs;
      }
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
