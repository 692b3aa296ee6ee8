/**
 * The hold on a contributor's Stripe payments after their payout details changed (the
 * payment-diversion defence; the change itself is recorded from Stripe's events in
 * src/modules/stripe/payout-details.ts): whether it is on, and finance confirming the change.
 */
import { and, eq } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { contributors } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import type { Actor } from '../../domain/actor.js';
import { londonDate } from '../../domain/uk-time.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { contributorResponseOn, getContributorRow } from './service.js';
import type { ContributorResponse } from './views.js';

/** Why a held person's money is not paid, as runs and items say it. */
export const PAYOUT_DETAILS_CHANGED = 'payout_details_changed';

/** When the contributor's payout details changed, if that change still waits for finance; else null. */
export async function payoutDetailsHeldSince(db: Db, organisationId: string, contributorId: string): Promise<Date | null> {
  const [row] = await db
    .select({ since: contributors.payoutDetailsChangedAt })
    .from(contributors)
    .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)));
  return row?.since ?? null;
}

/**
 * Finance confirms a change of payout details, having checked it with the person through
 * details they already held: the hold ends and the next run pays them. Audited with who
 * confirmed. A person may not confirm their own change (a member of finance who is also paid).
 *
 * Errors: not_found; invalid_state (nothing is held); self_approval_forbidden.
 */
export async function confirmPayoutDetails(
  db: Db,
  organisationId: string,
  actor: Actor,
  contributorId: string,
  /** The contributor the confirming person is linked to, if any. */
  confirmerContributorId: string | null,
  now: Date,
): Promise<ContributorResponse> {
  return inTransaction(db, async (tx) => {
    const row = await getContributorRow(tx, organisationId, contributorId, true);
    if (confirmerContributorId === contributorId) {
      throw new AppError('self_approval_forbidden', 'These are your own payout details, so someone else in finance must check and confirm the change.');
    }
    if (!row.payoutDetailsChangedAt) {
      throw new AppError('invalid_state', 'Nothing is held for this contributor: no change of payout details is waiting to be confirmed.');
    }
    const [updated] = await tx
      .update(contributors)
      .set({ payoutDetailsChangedAt: null, updatedAt: now })
      .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)))
      .returning();
    await recordAudit(tx, organisationId, actor, {
      action: 'contributor.payout_details_confirmed',
      entityType: 'contributor',
      entityId: contributorId,
      before: { payoutDetailsChangedAt: row.payoutDetailsChangedAt },
      after: { payoutDetailsChangedAt: null },
    });
    return contributorResponseOn(tx, organisationId, updated!, londonDate(now));
  });
}
