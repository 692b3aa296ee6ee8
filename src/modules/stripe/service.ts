import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Db } from '../../db/client.js';
import { contributors, payoutItems, stripeEvents } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { systemActor, type Actor } from '../../domain/actor.js';
import { getContributorRow } from '../contributors/service.js';
import { recordTransferReversed } from '../payouts/service.js';

/** A connected account can take transfers once Stripe says its transfers capability is active. */
export const canReceiveTransfers = (account: Stripe.Account): boolean =>
  account.capabilities?.transfers === 'active' || (account.capabilities?.transfers === undefined && account.payouts_enabled === true);

/**
 * Creates the contributor's connected account once (GB, individual, recipient of transfers)
 * and a fresh Account Link for onboarding on every call. The account is created with an
 * idempotency key derived from the contributor, so two racing calls get the same account; the
 * database keeps the first one recorded.
 *
 * Errors: not_found, invalid_state (the contributor is not paid through Stripe).
 */
export async function startStripeOnboarding(
  db: Db,
  stripe: Stripe,
  organisationId: string,
  actor: Actor,
  contributorId: string,
  urls: { refreshUrl: string; returnUrl: string },
  now: Date,
) {
  const contributor = await getContributorRow(db, organisationId, contributorId);
  if (contributor.paymentMethod !== 'stripe') {
    throw new AppError('invalid_state', 'Set the payment method to stripe before starting Stripe onboarding.');
  }
  let accountId = contributor.stripeAccountId;
  let payoutsEnabled = contributor.stripePayoutsEnabled;
  if (!accountId) {
    const account = await stripe.accounts.create(
      {
        type: 'express',
        country: 'GB',
        business_type: 'individual',
        email: contributor.email ?? undefined,
        capabilities: { transfers: { requested: true } },
        tos_acceptance: { service_agreement: 'recipient' },
        metadata: { contributor_id: contributor.id, organisation_id: organisationId },
      },
      { idempotencyKey: `contributor-account-${contributor.id}` },
    );
    const recorded = await inTransaction(db, async (tx) => {
      const [row] = await tx
        .update(contributors)
        .set({ stripeAccountId: account.id, stripePayoutsEnabled: canReceiveTransfers(account), updatedAt: now })
        .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributor.id), isNull(contributors.stripeAccountId)))
        .returning();
      if (row) {
        await recordAudit(tx, organisationId, actor, {
          action: 'contributor.stripe_account_created',
          entityType: 'contributor',
          entityId: contributor.id,
          after: { stripeAccountId: account.id },
        });
        return row;
      }
      return getContributorRow(tx, organisationId, contributor.id);
    });
    accountId = recorded.stripeAccountId!;
    payoutsEnabled = recorded.stripePayoutsEnabled;
  }
  const link = await stripe.accountLinks.create({
    account: accountId,
    type: 'account_onboarding',
    refresh_url: urls.refreshUrl,
    return_url: urls.returnUrl,
  });
  return { accountId, onboardingUrl: link.url, payoutsEnabled };
}

/**
 * Applies one verified Stripe event, at most once: the event id is recorded in the same
 * transaction as its effects. Events may come in any order: account.updated older than the
 * one applied is ignored, and transfer.reversed carries Stripe's cumulative amount_reversed.
 * Returns whether the event was new.
 */
export async function applyStripeEvent(db: Db, event: Stripe.Event, now: Date): Promise<{ applied: boolean }> {
  const actor = systemActor('stripe-webhook');
  return inTransaction(db, async (tx) => {
    const inserted = await tx
      .insert(stripeEvents)
      .values({ id: event.id, type: event.type })
      .onConflictDoNothing()
      .returning({ id: stripeEvents.id });
    if (!inserted.length) return { applied: false };

    switch (event.type) {
      case 'account.updated': {
        const account = event.data.object as Stripe.Account;
        const [contributor] = await tx
          .select()
          .from(contributors)
          .where(eq(contributors.stripeAccountId, account.id))
          .for('update');
        if (!contributor) break;
        const ready = canReceiveTransfers(account);
        const [updated] = await tx
          .update(contributors)
          .set({ stripePayoutsEnabled: ready, stripeAccountUpdatedAt: event.created, updatedAt: now })
          .where(
            and(
              eq(contributors.organisationId, contributor.organisationId),
              eq(contributors.id, contributor.id),
              or(isNull(contributors.stripeAccountUpdatedAt), lt(contributors.stripeAccountUpdatedAt, event.created)),
            ),
          )
          .returning();
        if (updated) {
          await recordAudit(tx, contributor.organisationId, actor, {
            action: 'contributor.stripe_account_updated',
            entityType: 'contributor',
            entityId: contributor.id,
            before: { payoutsEnabled: contributor.stripePayoutsEnabled },
            after: { payoutsEnabled: ready, event: event.id },
          });
        }
        await tx.update(stripeEvents).set({ organisationId: contributor.organisationId }).where(eq(stripeEvents.id, event.id));
        break;
      }
      case 'transfer.reversed': {
        const transfer = event.data.object as Stripe.Transfer;
        const reversed = await recordTransferReversed(
          tx,
          actor,
          { transferId: transfer.id, metadata: transfer.metadata, amountReversed: transfer.amount_reversed },
          now,
        );
        if (!reversed) break;
        await tx.update(stripeEvents).set({ organisationId: reversed.organisationId }).where(eq(stripeEvents.id, event.id));
        break;
      }
      case 'payout.paid':
      case 'payout.failed': {
        // A bank payout of a contributor's connected account. Stripe batches transfers into
        // payouts, so the outcome is noted on the account's paid items not yet told one.
        if (!event.account) break;
        const payout = event.data.object as Stripe.Payout;
        const [contributor] = await tx.select().from(contributors).where(eq(contributors.stripeAccountId, event.account));
        if (!contributor) break;
        const failed = event.type === 'payout.failed';
        const message = failed ? (payout.failure_message ?? payout.failure_code ?? 'The bank payout failed') : null;
        await tx
          .update(contributors)
          .set({ stripePayoutFailure: message, updatedAt: now })
          .where(and(eq(contributors.organisationId, contributor.organisationId), eq(contributors.id, contributor.id)));
        await tx
          .update(payoutItems)
          .set({ bankPayoutStatus: failed ? 'failed' : 'paid', failureReason: failed ? message : null, updatedAt: now })
          .where(
            and(
              eq(payoutItems.organisationId, contributor.organisationId),
              eq(payoutItems.contributorId, contributor.id),
              eq(payoutItems.status, 'paid'),
              eq(payoutItems.method, 'stripe'),
              or(isNull(payoutItems.bankPayoutStatus), eq(payoutItems.bankPayoutStatus, 'failed')),
            ),
          );
        await recordAudit(tx, contributor.organisationId, actor, {
          action: failed ? 'contributor.bank_payout_failed' : 'contributor.bank_payout_paid',
          entityType: 'contributor',
          entityId: contributor.id,
          after: { payout: payout.id, amount: payout.amount, failure: message, event: event.id },
        });
        await tx.update(stripeEvents).set({ organisationId: contributor.organisationId }).where(eq(stripeEvents.id, event.id));
        break;
      }
      default:
        break;
    }
    return { applied: true };
  });
}
