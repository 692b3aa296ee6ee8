import { and, asc, eq, gt, isNotNull, isNull, ne, sql, type SQL } from 'drizzle-orm';
import { organisationRow, type Db } from '../../db/client.js';
import { contributors, expenses, payoutItems, timeEntries } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { newId } from '../../lib/ids.js';
import type { EarningsLimitInput } from './schemas.js';
import { londonDate } from '../../domain/uk-time.js';
import { limitOn } from '../../domain/earnings-limit.js';
import { addLimitVersion, limitAsVersion, limitInForce, loadLimitVersions } from './earnings-limits.js';
import { toContributorResponse, type ContributorResponse } from './views.js';

export type ContributorRow = typeof contributors.$inferSelect;
type Row = ContributorRow;

export interface NewContributor {
  name: string;
  email?: string;
  kind: Row['kind'];
  paymentMethod: Row['paymentMethod'];
  earningsLimit?: EarningsLimitInput;
  /** The caller checked a possible duplicate and says this is another person. */
  confirmNotDuplicate?: true;
}

/**
 * Another (not erased) contributor of the organisation with this email, compared
 * case-insensitively: the usual way one person comes to be entered, and paid, twice.
 */
async function contributorWithEmail(db: Db, organisationId: string, email: string, except?: string): Promise<string | null> {
  const conditions: SQL[] = [
    eq(contributors.organisationId, organisationId),
    sql`lower(${contributors.email}) = lower(${email})`,
    isNull(contributors.erasedAt),
  ];
  if (except) conditions.push(ne(contributors.id, except));
  const [row] = await db.select({ id: contributors.id }).from(contributors).where(and(...conditions)).limit(1);
  return row?.id ?? null;
}

/**
 * Refuses (409 possible_duplicate, with `duplicateOf`) an email another contributor has, unless
 * the caller confirmed it is a different person; returns the id they confirmed against, for the
 * audit.
 */
async function checkNotDuplicate(db: Db, organisationId: string, email: string | null | undefined, confirmed: boolean, except?: string) {
  if (!email) return undefined;
  const duplicateOf = await contributorWithEmail(db, organisationId, email, except);
  if (!duplicateOf) return undefined;
  if (!confirmed) {
    throw new AppError(
      'possible_duplicate',
      'Another contributor has this email. If this is a different person, send the request again with "confirmNotDuplicate": true.',
      { duplicateOf },
    );
  }
  return duplicateOf;
}

/**
 * Adds a contributor; a limit given with them is in force from today (Europe/London).
 * Errors: possible_duplicate.
 */
export async function createContributor(db: Db, organisationId: string, actor: Actor, input: NewContributor, now: Date): Promise<ContributorResponse> {
  return inTransaction(db, async (tx) => {
    const confirmedNotDuplicateOf = await checkNotDuplicate(tx, organisationId, input.email, input.confirmNotDuplicate === true);
    const [row] = await tx
      .insert(contributors)
      .values({
        organisationId,
        id: newId(),
        name: input.name,
        email: input.email ?? null,
        kind: input.kind,
        paymentMethod: input.paymentMethod,
      })
      .returning();
    const today = londonDate(now);
    if (input.earningsLimit) await addLimitVersion(tx, organisationId, actor, row!.id, limitAsVersion(input.earningsLimit, today));
    const view = await contributorResponseOn(tx, organisationId, row!, today);
    await recordAudit(tx, organisationId, actor, {
      action: 'contributor.created',
      entityType: 'contributor',
      entityId: view.id,
      after: confirmedNotDuplicateOf ? { ...view, confirmedNotDuplicateOf } : view,
    });
    return view;
  });
}

/**
 * Reads (and with `forUpdate`, locks) a contributor: the one contributor lock every money path
 * takes. Errors: not_found (including another organisation's id or a malformed one).
 */
export function getContributorRow(db: Db, organisationId: string, contributorId: string, forUpdate = false): Promise<Row> {
  return organisationRow(db, contributors, 'The contributor', organisationId, contributorId, forUpdate ? 'for update' : 'no lock');
}

/** The rows of a contributor's table (time, expenses, payout items) that are theirs. */
export const ofContributor = (table: typeof timeEntries | typeof expenses | typeof payoutItems, organisationId: string, contributorId: string) =>
  and(eq(table.organisationId, organisationId), eq(table.contributorId, contributorId))!;

/**
 * Refuses new work, payment set-up or a log-in for an erased contributor: nobody could say who
 * the money was for. Errors: invalid_state.
 */
export function assertNotErased(row: Row): Row {
  if (row.erasedAt) throw new AppError('invalid_state', "This contributor's personal data was erased: nothing new can be recorded for them.");
  return row;
}

export async function listContributors(
  db: Db,
  organisationId: string,
  filter: { kind?: Row['kind']; paymentMethod?: Row['paymentMethod']; payoutDetailsChanged?: boolean },
  limit: number,
  afterId: string | undefined,
  now: Date,
) {
  const conditions: SQL[] = [eq(contributors.organisationId, organisationId)];
  if (filter.kind) conditions.push(eq(contributors.kind, filter.kind));
  if (filter.paymentMethod) conditions.push(eq(contributors.paymentMethod, filter.paymentMethod));
  if (filter.payoutDetailsChanged !== undefined) {
    conditions.push(filter.payoutDetailsChanged ? isNotNull(contributors.payoutDetailsChangedAt) : isNull(contributors.payoutDetailsChangedAt));
  }
  if (afterId) conditions.push(gt(contributors.id, afterId));
  const rows = await db
    .select()
    .from(contributors)
    .where(and(...conditions))
    .orderBy(asc(contributors.id))
    .limit(limit + 1);
  const today = londonDate(now);
  const versions = await loadLimitVersions(db, organisationId, rows.map((r) => r.id));
  return rows.map((row) => toContributorResponse(row, limitOn(versions.get(row.id) ?? [], today)));
}

/** A contributor as the API shows them on a day, with the limit in force that day. */
export async function contributorResponseOn(db: Db, organisationId: string, row: Row, today: string): Promise<ContributorResponse> {
  return toContributorResponse(row, await limitInForce(db, organisationId, row.id, today));
}

/** Errors: not_found. */
export async function getContributor(db: Db, organisationId: string, contributorId: string, now: Date): Promise<ContributorResponse> {
  return contributorResponseOn(db, organisationId, await getContributorRow(db, organisationId, contributorId), londonDate(now));
}

export interface ContributorPatch {
  name?: string;
  email?: string | null;
  kind?: Row['kind'];
  paymentMethod?: Row['paymentMethod'];
  earningsLimit?: EarningsLimitInput | null;
  confirmNotDuplicate?: true;
}

/**
 * Changes a contributor; a new limit is in force from today (Europe/London). Errors: not_found,
 * possible_duplicate (a new email another contributor has), invalid_state (erased).
 */
export async function updateContributor(
  db: Db,
  organisationId: string,
  actor: Actor,
  contributorId: string,
  patch: ContributorPatch,
  now: Date,
): Promise<ContributorResponse> {
  return inTransaction(db, async (tx) => {
    const today = londonDate(now);
    const current = await getContributorRow(tx, organisationId, contributorId, true);
    if (current.erasedAt) throw new AppError('invalid_state', 'This contributor was erased; their record can no longer change.');
    const before = await contributorResponseOn(tx, organisationId, current, today);
    const { earningsLimit, confirmNotDuplicate, ...simple } = patch;
    const emailChanged = simple.email && simple.email.toLowerCase() !== current.email?.toLowerCase();
    const confirmedNotDuplicateOf = emailChanged
      ? await checkNotDuplicate(tx, organisationId, simple.email, confirmNotDuplicate === true, contributorId)
      : undefined;
    const [row] = await tx
      .update(contributors)
      .set({ ...simple, updatedAt: now })
      .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)))
      .returning();
    if (earningsLimit !== undefined) await addLimitVersion(tx, organisationId, actor, contributorId, limitAsVersion(earningsLimit, today));
    const after = await contributorResponseOn(tx, organisationId, row!, today);
    await recordAudit(tx, organisationId, actor, {
      action: 'contributor.updated',
      entityType: 'contributor',
      entityId: contributorId,
      before,
      after: confirmedNotDuplicateOf ? { ...after, confirmedNotDuplicateOf } : after,
    });
    return after;
  });
}
