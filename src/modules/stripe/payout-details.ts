/**
 * The payment-diversion defence. Someone who gets into a participant's Stripe account (or an
 * onboarding link meant for them) changes the bank account payouts go to, and the next payment
 * lands with them. So when Stripe reports a change of a connected account's payout destination,
 * the contributor's Stripe payments are held (contributors.payout_details_changed_at) until
 * finance has checked the change with the person and confirmed it, and both sides are emailed.
 *
 * What counts as a change of payout destination (each Stripe event is judged on its own):
 * - `account.external_account.created` and `account.external_account.deleted`: always. Adding a
 *   bank account or card can make it the default; removing one can move payouts to another.
 * - `account.external_account.updated`: unless Stripe's `previous_attributes` name only fields
 *   that never move money (metadata, the verification status, the payout methods it allows,
 *   requirements). Without `previous_attributes` we cannot tell, so it counts.
 * - `account.updated`: when `previous_attributes` has `external_accounts` and the accounts that
 *   payouts go to (the default for each currency) differ before and after; when the lists are
 *   not there to compare, it counts. Without `external_accounts` in `previous_attributes`
 *   Stripe is telling us of something else (capabilities, requirements), so it does not.
 * Doubt always counts as a change: a needless hold costs finance one check, a missed one costs
 * the participant their money.
 *
 * The first set-up does not hold anything: the bank account a person gives while onboarding is
 * where they are to be paid, and there is nothing yet to divert. A change is the first set-up
 * when Stripe had never enabled payouts for the contributor (not now, nor in any
 * `contributor.stripe_account_updated` audit event) and no Stripe payment to them was ever
 * approved. Once either has happened, every change holds.
 */
import { and, eq, gt, inArray, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type Stripe from 'stripe';
import type { Db } from '../../db/client.js';
import { auditEvents, contributors, notifications, payoutItems } from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { recordAudit } from '../../lib/audit.js';
import { contributorRecipients, queueNotification, staffRecipients } from '../notifications/outbox.js';

type ContributorRow = typeof contributors.$inferSelect;

/** Fields of an external account whose change never moves where money goes. */
const HARMLESS_EXTERNAL_ACCOUNT_FIELDS = new Set(['metadata', 'status', 'available_payout_methods', 'requirements', 'future_requirements']);

/**
 * Stripe reports one edit in its dashboard as several events within moments (the new bank
 * account, the old one deleted, the account updated). Each is audited and holds, but within
 * this long of the last email about a contributor's details nobody is emailed again.
 */
export const CHANGE_EMAIL_QUIET_MS = 5 * 60_000;

/** The pages the emails link to. */
const PARTICIPANT_LINK = '/my/payment';
const FINANCE_LINK = '/finance/payout-details';

type ExternalAccountList = { data?: unknown } | null | undefined;

/**
 * Where payouts go, as comparable keys: each currency's default external account. An account
 * that does not say whether it is the default counts as one (doubt counts as a destination).
 * Null when the list is missing or not a list: there is nothing to compare.
 */
export function payoutDestinations(list: ExternalAccountList): string[] | null {
  if (!list || !Array.isArray(list.data)) return null;
  return (list.data as { id?: unknown; currency?: unknown; default_for_currency?: unknown }[])
    .filter((a) => a && a.default_for_currency !== false)
    .map((a) => `${String(a.currency ?? '')}:${String(a.id ?? '')}`)
    .sort();
}

export interface ReportedChange {
  /** The connected account whose destination changed. */
  accountId: string;
  /** The external account the event is about (a bank account `ba_…` or card `card_…`), when it names one. */
  externalAccountId: string | null;
  what: 'added' | 'removed' | 'changed';
}

/**
 * Whether a Stripe event reports a change of a connected account's payout destination (the
 * rules are in this file's header). Pure: it reads the event only.
 */
export function reportedDestinationChange(event: Stripe.Event): ReportedChange | null {
  const object = event.data.object as unknown as Record<string, unknown>;
  const previous = (event.data as { previous_attributes?: Record<string, unknown> }).previous_attributes;
  const externalAccountOf = (): ReportedChange | null => {
    const accountId = event.account ?? (typeof object.account === 'string' ? object.account : null);
    if (!accountId) return null;
    const what = event.type === 'account.external_account.created' ? 'added' : event.type === 'account.external_account.deleted' ? 'removed' : 'changed';
    return { accountId, externalAccountId: typeof object.id === 'string' ? object.id : null, what };
  };
  switch (event.type) {
    case 'account.external_account.created':
    case 'account.external_account.deleted':
      return externalAccountOf();
    case 'account.external_account.updated': {
      const changed = previous ? Object.keys(previous).filter((k) => !HARMLESS_EXTERNAL_ACCOUNT_FIELDS.has(k)) : ['(unknown)'];
      return changed.length ? externalAccountOf() : null;
    }
    case 'account.updated': {
      if (!previous || !('external_accounts' in previous) || typeof object.id !== 'string') return null;
      const before = payoutDestinations(previous.external_accounts as ExternalAccountList);
      const after = payoutDestinations(object.external_accounts as ExternalAccountList);
      const same = before !== null && after !== null && before.length === after.length && before.every((d, i) => d === after[i]);
      if (same) return null;
      const now = after?.[0]?.split(':')[1];
      return { accountId: object.id, externalAccountId: now || null, what: 'changed' };
    }
    default:
      return null;
  }
}

/**
 * Whether a change now is still the contributor's first set-up: Stripe has never enabled their
 * payouts and no Stripe payment to them was ever approved (see the header).
 */
async function isFirstSetUp(tx: Db, contributor: ContributorRow): Promise<boolean> {
  if (contributor.stripePayoutsEnabled) return false;
  const paid = await anyRow(
    tx,
    payoutItems,
    eq(payoutItems.organisationId, contributor.organisationId),
    eq(payoutItems.contributorId, contributor.id),
    eq(payoutItems.method, 'stripe'),
    or(inArray(payoutItems.status, ['processing', 'paid']), sql`${payoutItems.stripeTransferId} is not null`)!,
  );
  if (paid) return false;
  const enabled = await anyRow(
    tx,
    auditEvents,
    eq(auditEvents.organisationId, contributor.organisationId),
    eq(auditEvents.entityType, 'contributor'),
    eq(auditEvents.entityId, contributor.id),
    eq(auditEvents.action, 'contributor.stripe_account_updated'),
    sql`${auditEvents.after}->>'payoutsEnabled' = 'true'`,
  );
  return !enabled;
}

/** Whether someone was emailed about this contributor's payout details within the quiet time. */
async function toldRecently(tx: Db, contributor: ContributorRow, now: Date): Promise<boolean> {
  return anyRow(
    tx,
    notifications,
    eq(notifications.organisationId, contributor.organisationId),
    eq(notifications.kind, 'payout_details_changed'),
    sql`${notifications.data}->>'contributorId' = ${contributor.id}`,
    gt(notifications.createdAt, new Date(now.getTime() - CHANGE_EMAIL_QUIET_MS)),
  );
}

/** Whether any row of `table` meets every condition (it reads one row at most). */
async function anyRow(tx: Db, table: PgTable, ...conditions: SQL[]): Promise<boolean> {
  const [row] = await tx.select({ one: sql`1` }).from(table).where(and(...conditions)).limit(1);
  return row !== undefined;
}

/**
 * Applies a reported change of payout destination to its contributor (locked by the caller, as
 * read before this event changed anything): outside the first set-up it holds their Stripe
 * payments from now (an earlier hold that is not confirmed yet stays as it is), and the
 * participant and finance users are emailed. Always audited, held or not.
 */
export async function recordDestinationChange(
  tx: Db,
  actor: Actor,
  contributor: ContributorRow,
  event: Stripe.Event,
  change: ReportedChange,
  now: Date,
): Promise<{ held: boolean }> {
  const organisationId = contributor.organisationId;
  const firstSetUp = await isFirstSetUp(tx, contributor);
  const facts = { event: event.id, type: event.type, what: change.what, externalAccountId: change.externalAccountId };
  if (firstSetUp) {
    await recordAudit(tx, organisationId, actor, {
      action: 'contributor.payout_details_set_up',
      entityType: 'contributor',
      entityId: contributor.id,
      after: { ...facts, held: false },
    });
    return { held: false };
  }
  const [updated] = await tx
    .update(contributors)
    .set({ payoutDetailsChangedAt: now, updatedAt: now })
    .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributor.id), isNull(contributors.payoutDetailsChangedAt)))
    .returning({ payoutDetailsChangedAt: contributors.payoutDetailsChangedAt });
  const heldSince = updated?.payoutDetailsChangedAt ?? contributor.payoutDetailsChangedAt;
  const notify = !(await toldRecently(tx, contributor, now));
  await recordAudit(tx, organisationId, actor, {
    action: 'contributor.payout_details_changed',
    entityType: 'contributor',
    entityId: contributor.id,
    before: { payoutDetailsChangedAt: contributor.payoutDetailsChangedAt },
    after: { ...facts, held: true, payoutDetailsChangedAt: heldSince, notified: notify },
  });
  if (notify) await tellBothSides(tx, contributor, event.id, now);
  return { held: true };
}

/** The participant (every user linked to them, or their own email) and the finance users. */
async function tellBothSides(tx: Db, contributor: ContributorRow, eventId: string, now: Date) {
  const organisationId = contributor.organisationId;
  const participant = await contributorRecipients(tx, organisationId, contributor.id);
  const about = `details:${eventId}`;
  await queueNotification(
    tx,
    organisationId,
    {
      kind: 'payout_details_changed',
      recipients: participant,
      link: PARTICIPANT_LINK,
      data: { audience: 'participant', contributorId: contributor.id },
      about,
      contributorId: contributor.id,
    },
    now,
  );
  // A finance user who is this contributor hears as the participant, not as the checker.
  const finance = await staffRecipients(tx, organisationId, ['finance'], participant.map((p) => p.userId).filter((id) => id !== null));
  await queueNotification(
    tx,
    organisationId,
    { kind: 'payout_details_changed', recipients: finance, link: FINANCE_LINK, data: { audience: 'finance', contributorId: contributor.id }, about },
    now,
  );
}
