import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Db } from '../../db/client.js';
import { contributors, payoutItems, stripeEvents } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { systemActor, type Actor } from '../../domain/actor.js';
import { newId } from '../../lib/ids.js';
import { assertNotErased, getContributorRow } from '../contributors/service.js';
import { contributorRecipients, queueNotification } from '../notifications/outbox.js';
import { recordTransferReversed } from '../payouts/service.js';
import { recordDestinationChange, reportedDestinationChange } from './payout-details.js';

/** A connected account can take transfers once Stripe says its transfers capability is active. */
export const canReceiveTransfers = (account: Stripe.Account): boolean =>
  account.capabilities?.transfers === 'active' || (account.capabilities?.transfers === undefined && account.payouts_enabled === true);

/** Who asked for an onboarding link: a member of staff for someone, or the participant for themselves. */
export type OnboardingRequester = 'staff' | 'participant';

/**
 * Creates the contributor's connected account once (GB, individual, recipient of transfers)
 * and a fresh Account Link for onboarding on every call. The account is created with an
 * idempotency key derived from the contributor, so two racing calls get the same account; the
 * database keeps the first one recorded.
 *
 * Every link is audited (who asked, never the URL: whoever holds it can set where the money
 * goes). A link made by staff also emails the contributor that a payout account is being set
 * up for them, so a link that reaches someone else is noticed; the participant's own does not.
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
  requestedBy: OnboardingRequester = 'staff',
) {
  const contributor = assertNotErased(await getContributorRow(db, organisationId, contributorId));
  if (contributor.paymentMethod !== 'stripe') {
    throw new AppError(
      'invalid_state',
      requestedBy === 'participant'
        ? 'You are not paid through Stripe. Choose "Into my bank account, through Stripe" as how you are paid first, then set up Stripe.'
        : 'This contributor is not paid through Stripe. Set their payment method to stripe before starting Stripe onboarding.',
    );
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
  await inTransaction(db, (tx) => recordOnboardingLink(tx, organisationId, actor, contributor.id, accountId, link, requestedBy, now));
  return { accountId, onboardingUrl: link.url, payoutsEnabled };
}

/** Audits one onboarding link (without its URL) and, for a link staff made, tells the contributor. */
async function recordOnboardingLink(
  tx: Db,
  organisationId: string,
  actor: Actor,
  contributorId: string,
  accountId: string,
  link: Stripe.AccountLink,
  requestedBy: OnboardingRequester,
  now: Date,
) {
  // One id for the link ties its audit event to the email about it; each link is its own event.
  const linkId = newId();
  await recordAudit(tx, organisationId, actor, {
    action: 'contributor.stripe_onboarding_link_created',
    entityType: 'contributor',
    entityId: contributorId,
    after: {
      linkId,
      stripeAccountId: accountId,
      requestedBy,
      expiresAt: link.expires_at ? new Date(link.expires_at * 1000).toISOString() : null,
    },
  });
  if (requestedBy !== 'staff') return;
  await queueNotification(
    tx,
    organisationId,
    {
      kind: 'payout_setup_started',
      recipients: await contributorRecipients(tx, organisationId, contributorId),
      link: '/my/payment',
      data: { linkId },
      about: `onboarding-link:${linkId}`,
      contributorId,
    },
    now,
  );
}

/** Stripe's requirement fields, by prefix, in the words a participant knows them by. */
const REQUIREMENT_WORDS: [prefix: string, words: string][] = [
  ['external_account', 'your bank details'],
  ['individual.dob', 'your date of birth'],
  ['individual.first_name', 'your name'],
  ['individual.last_name', 'your name'],
  ['individual.address', 'your home address'],
  ['individual.phone', 'your phone number'],
  ['individual.email', 'your email address'],
  ['email', 'your email address'],
  ['individual.verification', 'proof of who you are (a photo of an identity document)'],
  ['individual.id_number', 'your National Insurance number'],
  ['tos_acceptance', "agreeing to Stripe's terms"],
  ['business_type', 'whether you are paid as an individual'],
  ['business_profile', 'a few words about what you are paid for'],
];

/** What Stripe still needs, in plain words, each once, in the order Stripe lists them. */
export function stillNeededFrom(requirements: Pick<Stripe.Account.Requirements, 'currently_due' | 'past_due'> | null | undefined): string[] {
  const fields = [...(requirements?.past_due ?? []), ...(requirements?.currently_due ?? [])];
  const words = fields.map((field) => REQUIREMENT_WORDS.find(([prefix]) => field === prefix || field.startsWith(`${prefix}.`))?.[1] ?? 'other details Stripe asks for');
  return [...new Set(words)];
}

/**
 * The contributor's connected account as Stripe reports it now, so someone back from
 * onboarding sees at once whether they can be paid and, if not, what is still needed. What
 * Stripe says about payouts is also recorded (audited, as account.updated would be): the
 * webhook may come later, and the next run should not wait for it.
 *
 * Errors: not_found, stripe_unavailable (Stripe did not answer).
 */
export async function stripeAccountStatus(db: Db, stripe: Stripe, organisationId: string, actor: Actor, contributorId: string, now: Date) {
  const contributor = await getContributorRow(db, organisationId, contributorId);
  const heldSince = contributor.payoutDetailsChangedAt?.toISOString() ?? null;
  if (!contributor.stripeAccountId) {
    return { accountId: null, payoutsEnabled: false, detailsSubmitted: false, checking: false, stillNeeded: [], payoutDetailsChangedAt: heldSince };
  }
  let account: Stripe.Account;
  try {
    account = await stripe.accounts.retrieve(contributor.stripeAccountId);
  } catch {
    throw new AppError('stripe_unavailable', 'Stripe could not be asked about this account just now. Try again in a minute.');
  }
  const ready = canReceiveTransfers(account);
  if (ready !== contributor.stripePayoutsEnabled) await recordRetrievedReadiness(db, organisationId, actor, contributor.id, ready, now);
  const stillNeeded = ready ? [] : stillNeededFrom(account.requirements);
  return {
    accountId: account.id,
    payoutsEnabled: ready,
    detailsSubmitted: account.details_submitted ?? false,
    checking: !ready && stillNeeded.length === 0,
    stillNeeded,
    payoutDetailsChangedAt: heldSince,
  };
}

/**
 * Records whether the account can receive transfers as just read from Stripe. Stamped with our
 * clock in Stripe's unit, so an account.updated event from before the read is not applied over it.
 */
async function recordRetrievedReadiness(db: Db, organisationId: string, actor: Actor, contributorId: string, ready: boolean, now: Date) {
  const stamp = Math.floor(now.getTime() / 1000);
  await inTransaction(db, async (tx) => {
    const before = await getContributorRow(tx, organisationId, contributorId, true);
    if (before.stripePayoutsEnabled === ready) return;
    await tx
      .update(contributors)
      .set({ stripePayoutsEnabled: ready, stripeAccountUpdatedAt: Math.max(stamp, before.stripeAccountUpdatedAt ?? 0), updatedAt: now })
      .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)));
    await recordAudit(tx, organisationId, actor, {
      action: 'contributor.stripe_account_updated',
      entityType: 'contributor',
      entityId: contributorId,
      before: { payoutsEnabled: before.stripePayoutsEnabled },
      after: { payoutsEnabled: ready, source: 'retrieved' },
    });
  });
}

/**
 * Applies one verified Stripe event, at most once: the event id is recorded in the same
 * transaction as its effects. Events may come in any order: account.updated older than the
 * one applied is ignored, and transfer.reversed carries Stripe's cumulative amount_reversed.
 * A change of a connected account's payout destination (account.external_account.*, or an
 * account.updated whose external accounts changed) holds the contributor's Stripe payments
 * until finance confirms it (payout-details.ts), even when the event is older than the last
 * one applied: the change still happened. Returns whether the event was new.
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
        // Judged against the contributor as they were before this event (first set-up or not).
        const change = reportedDestinationChange(event);
        if (change) await recordDestinationChange(tx, actor, contributor, event, change, now);
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
      case 'account.external_account.created':
      case 'account.external_account.updated':
      case 'account.external_account.deleted': {
        // Connect events: `event.account` is the connected account whose bank details changed.
        const change = reportedDestinationChange(event);
        if (!change) break;
        const [contributor] = await tx.select().from(contributors).where(eq(contributors.stripeAccountId, change.accountId)).for('update');
        if (!contributor) break;
        await recordDestinationChange(tx, actor, contributor, event, change, now);
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
