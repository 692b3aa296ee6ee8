/**
 * Erasure (UK GDPR art. 17) that keeps the books whole.
 *
 * What goes: the contributor's name, email and link to their Stripe connected account (and the
 * account itself, where Stripe allows), the notes on their time and expenses and the reasons
 * staff wrote on them, the log-in linked to them (name, email, password, tokens), the addresses
 * and contents of their emails, and every stored API response that repeated any of it.
 *
 * What stays, byte for byte: the ledger (ids and amounts; it never held a name), the amounts and
 * dates of their work and payments, their pseudonym in reports (derived from the organisation's
 * key and their id, which stays), and audit history (which holds ids only; see lib/audit.ts).
 *
 * Refused while money is owed to them or on its way (409 balance_outstanding): erasing then
 * would leave finance unable to say who to pay. Refused while work of theirs awaits approval
 * (409 work_pending): approve or reject it first. Refused for a person who also has a staff
 * log-in (409 invalid_state).
 */
import { and, eq, gte, inArray, isNotNull, ne, or, sql } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import type { Db } from '../../db/client.js';
import {
  contributors,
  expenses,
  idempotencyKeys,
  notifications,
  payoutItems,
  signInFailures,
  timeEntries,
  users,
} from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { classifyStripeError, type Stripe, type StripeGate } from '../../lib/stripe.js';
import { IDEMPOTENCY_RETENTION_HOURS, type ResponseSealer } from '../../plugins/idempotency.js';
import { accountKey } from '../auth/sign-in-limits.js';
import { contributorBalances } from '../balances/service.js';
import { contributorResponseOn, getContributorRow, ofContributor } from '../contributors/service.js';
import { ERASED_NAME, type ContributorResponse } from '../contributors/views.js';
import { londonDate } from '../../domain/uk-time.js';

/** What staff wrote about the person (a note, a reason) becomes this. */
export const ERASED_TEXT = '(erased)';
const ERASED_USER_NAME = 'Erased participant';
const erasedUserEmail = (userId: string) => `erased-${userId}@erased.invalid`;

export interface ErasureOutcome {
  contributor: ContributorResponse;
  /** Whether Stripe deleted the connected account; null when there was none. */
  stripeAccountDeleted: boolean | null;
  /** Log-ins that were linked to the person, now disabled and without name or email. */
  loginsErased: number;
}

export interface ErasureContext {
  stripe: Stripe | null;
  stripeGate: StripeGate;
  sealer: ResponseSealer;
  now: Date;
}

/**
 * Refuses erasure while money is owed or on its way, work awaits approval, or the person also
 * holds a staff log-in (erasing that would take away someone's access to run the organisation,
 * perhaps its last admin: change their role first).
 */
async function assertSettled(db: Db, organisationId: string, contributorId: string): Promise<void> {
  const staff = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.organisationId, organisationId), eq(users.contributorId, contributorId), ne(users.role, 'participant')));
  if (staff.length) {
    throw new AppError('invalid_state', 'This person also has a staff log-in. Change it to a participant log-in (or remove the link) before erasing them.');
  }
  const balances = await contributorBalances(db, organisationId, contributorId);
  const outstanding = balances.filter((b) => b.owed !== 0 || b.inTransit !== 0);
  if (outstanding.length) {
    throw new AppError('balance_outstanding', 'Money is still owed to this person or on its way. Pay (or reverse) it before erasing them.', {
      balances: outstanding.map((b) => ({ currency: b.currency, owed: b.owed, inTransit: b.inTransit })),
    });
  }
  const submitted = (table: typeof timeEntries | typeof expenses) =>
    db.$count(table, and(ofContributor(table, organisationId, contributorId), eq(table.status, 'submitted')));
  const pending = { timeEntries: await submitted(timeEntries), expenses: await submitted(expenses) };
  if (pending.timeEntries > 0 || pending.expenses > 0) {
    throw new AppError('work_pending', 'Work of this person awaits approval. Approve or reject it before erasing them.', pending);
  }
}

/**
 * Asks Stripe to delete the connected account. Stripe refusing (the account is gone already, or
 * cannot be deleted) is an answer: we still drop our link to it. Stripe unreachable refuses the
 * erasure (502 stripe_unavailable), before anything changed, so it can be retried.
 */
async function deleteStripeAccount(context: ErasureContext, accountId: string | null): Promise<boolean | null> {
  if (!accountId) return null;
  if (!context.stripe) return false;
  const stripe = context.stripe;
  try {
    const deleted = await context.stripeGate(() => stripe.accounts.del(accountId));
    return deleted.deleted === true;
  } catch (error) {
    const failure = classifyStripeError(error);
    const e = error as { type?: string; statusCode?: number };
    if (e.type === 'StripeInvalidRequestError' && e.statusCode !== undefined && e.statusCode < 500) return false;
    throw new AppError('stripe_unavailable', `Stripe could not delete the connected account (${failure.reason}). Nothing was erased; try again.`);
  }
}

/**
 * Erases a contributor. Idempotent: erasing an erased contributor answers the same view.
 * Errors: not_found, balance_outstanding, work_pending, invalid_state, stripe_unavailable.
 */
export async function eraseContributor(
  db: Db,
  organisationId: string,
  actor: Actor,
  contributorId: string,
  context: ErasureContext,
  transaction: <T>(fn: (tx: Db) => Promise<T>) => Promise<T>,
): Promise<ErasureOutcome> {
  const today = londonDate(context.now);
  // Check before talking to Stripe, so a refusal deletes nothing there either; the checks run
  // again under the contributor's lock below, where they count.
  const first = await getContributorRow(db, organisationId, contributorId);
  if (first.erasedAt) {
    return { contributor: await contributorResponseOn(db, organisationId, first, today), stripeAccountDeleted: null, loginsErased: 0 };
  }
  await assertSettled(db, organisationId, contributorId);
  const stripeAccountDeleted = await deleteStripeAccount(context, first.stripeAccountId);

  return transaction(async (tx) => {
    const row = await getContributorRow(tx, organisationId, contributorId, true);
    if (row.erasedAt) {
      return { contributor: await contributorResponseOn(tx, organisationId, row, today), stripeAccountDeleted, loginsErased: 0 };
    }
    await assertSettled(tx, organisationId, contributorId);
    const { now } = context;
    const linkedUsers = await tx
      .select({ id: users.id, email: users.email, name: users.name })
      .from(users)
      .where(and(eq(users.organisationId, organisationId), eq(users.contributorId, contributorId)));
    const userIds = linkedUsers.map((u) => u.id);
    // What names them: their names (word by word, in free text) and their identifiers.
    const person = {
      names: [row.name, ...linkedUsers.map((u) => u.name)],
      identifiers: [row.email, row.stripeAccountId, ...linkedUsers.map((u) => u.email)].filter((v): v is string => !!v),
    };

    const [erased] = await tx
      .update(contributors)
      .set({
        name: ERASED_NAME,
        email: null,
        stripeAccountId: null,
        stripePayoutsEnabled: false,
        stripePayoutFailure: null,
        payoutDetailsChangedAt: null,
        erasedAt: now,
        updatedAt: now,
      })
      .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)))
      .returning();

    // Staff's words on their work: notes go, reasons given stay given but say nothing.
    const erasedIfSet = (column: AnyPgColumn) => sql`case when ${column} is null then null else ${ERASED_TEXT} end`;
    for (const table of [timeEntries, expenses] as const) {
      await tx
        .update(table)
        .set({ note: null, rejectionReason: erasedIfSet(table.rejectionReason), reversalReason: erasedIfSet(table.reversalReason) })
        .where(ofContributor(table, organisationId, contributorId));
    }
    await tx.update(payoutItems).set({ stripeAccountId: null }).where(ofContributor(payoutItems, organisationId, contributorId));
    await eraseTextNamingThem(tx, organisationId, contributorId, namesThem(person));

    for (const user of linkedUsers) {
      await tx
        .update(users)
        .set({
          name: ERASED_USER_NAME,
          email: erasedUserEmail(user.id),
          passwordHash: null,
          inviteTokenHash: null,
          inviteExpiresAt: null,
          resetTokenHash: null,
          resetExpiresAt: null,
          notificationPreferences: {},
          disabledAt: sql`coalesce(${users.disabledAt}, ${now.toISOString()}::timestamptz)`,
          tokenVersion: sql`${users.tokenVersion} + 1`,
          erasedAt: now,
        })
        .where(and(eq(users.organisationId, organisationId), eq(users.id, user.id)));
      await tx.delete(signInFailures).where(eq(signInFailures.key, accountKey(user.email)));
    }

    // Their emails: addresses, links and contents go; what is still queued is never sent.
    const theirMail = and(
      eq(notifications.organisationId, organisationId),
      userIds.length ? or(eq(notifications.contributorId, contributorId), inArray(notifications.userId, userIds)) : eq(notifications.contributorId, contributorId),
    );
    await tx
      .update(notifications)
      .set({ status: 'failed', lastError: 'The person was erased before this was sent', claimedUntil: null })
      .where(and(theirMail, eq(notifications.status, 'queued')));
    await tx.update(notifications).set({ toAddress: ERASED_TEXT, link: '', data: {} }).where(theirMail);

    await scrubStoredResponses(tx, organisationId, namesThem(person), context);

    await recordAudit(tx, organisationId, actor, {
      action: 'contributor.erased',
      entityType: 'contributor',
      entityId: contributorId,
      after: { erased: true, stripeAccountDeleted, usersErased: userIds, erasedAt: now.toISOString() },
    });
    return { contributor: await contributorResponseOn(tx, organisationId, erased!, today), stripeAccountDeleted, loginsErased: userIds.length };
  });
}

/**
 * Whether a piece of free text names the person: any of their personal values, or any word of
 * their name (so "BACS J QUILL" is caught by "Quill"), compared case-insensitively, whole words.
 */
export function namesThem(person: { names: string[]; identifiers: string[] }): (text: string | null) => boolean {
  const split = (text: string) => text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length >= 2);
  const words = new Set(person.names.flatMap(split));
  const identifiers = person.identifiers.map((i) => i.toLowerCase());
  return (text) => {
    if (!text) return false;
    const lower = text.toLowerCase();
    return identifiers.some((i) => lower.includes(i)) || split(text).some((w) => words.has(w));
  };
}

/**
 * Free text on their payments and expenses that staff or Stripe wrote (a bank reference, why a
 * payment failed, Stripe's message quoting the connected account, a receipt reference) is
 * replaced where it names them; text that does not stays, as evidence for the books.
 */
async function eraseTextNamingThem(tx: Db, organisationId: string, contributorId: string, names: (text: string | null) => boolean) {
  const items = await tx
    .select({ id: payoutItems.id, reference: payoutItems.reference, failureReason: payoutItems.failureReason, lastError: payoutItems.lastError })
    .from(payoutItems)
    .where(ofContributor(payoutItems, organisationId, contributorId));
  for (const item of items) {
    const fields = (['reference', 'failureReason', 'lastError'] as const).filter((f) => names(item[f]));
    if (!fields.length) continue;
    await tx
      .update(payoutItems)
      .set(Object.fromEntries(fields.map((f) => [f, ERASED_TEXT])))
      .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.id, item.id)));
  }
  const receipts = await tx
    .select({ id: expenses.id, receiptReference: expenses.receiptReference })
    .from(expenses)
    .where(and(ofContributor(expenses, organisationId, contributorId), isNotNull(expenses.receiptReference)));
  for (const expense of receipts.filter((e) => names(e.receiptReference))) {
    await tx.update(expenses).set({ receiptReference: ERASED_TEXT }).where(and(eq(expenses.organisationId, organisationId), eq(expenses.id, expense.id)));
  }
}

/**
 * Idempotency records keep each response for a day so a retry can be answered the same; any text in
 * them that names the person (their name, email or Stripe account, or a note or reference that
 * does; sealed records included) is rewritten as with the rows themselves. Only records young
 * enough to be replayed exist; older ones are removed by maintenance.
 */
async function scrubStoredResponses(tx: Db, organisationId: string, names: (text: string | null) => boolean, context: ErasureContext): Promise<void> {
  const since = new Date(context.now.getTime() - 2 * IDEMPOTENCY_RETENTION_HOURS * 3_600_000);
  const rows = await tx
    .select({ key: idempotencyKeys.key, body: idempotencyKeys.responseBody })
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.organisationId, organisationId), gte(idempotencyKeys.createdAt, since)));
  for (const row of rows) {
    const sealed = context.sealer.isSealed(row.body);
    const body = sealed ? context.sealer.open(row.body) : row.body;
    let touched = false;
    const scrub = (value: unknown): unknown => {
      if (typeof value === 'string') {
        if (!names(value)) return value;
        touched = true;
        return ERASED_TEXT;
      }
      if (Array.isArray(value)) return value.map(scrub);
      if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v)]));
      return value;
    };
    const scrubbed = scrub(body);
    if (!touched) continue;
    await tx
      .update(idempotencyKeys)
      .set({ responseBody: sealed ? context.sealer.seal(scrubbed) : scrubbed })
      .where(and(eq(idempotencyKeys.organisationId, organisationId), eq(idempotencyKeys.key, row.key)));
  }
}
