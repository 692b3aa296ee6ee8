import { and, asc, eq, gt, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { contributors } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import type { EarningsLimitInput } from './schemas.js';
import { toContributorResponse, type ContributorResponse } from './views.js';

export type ContributorRow = typeof contributors.$inferSelect;
type Row = ContributorRow;

const limitColumns = (limit: EarningsLimitInput | null | undefined) =>
  limit === undefined
    ? {}
    : {
        limitPeriod: limit?.period ?? null,
        limitAmount: limit?.amount ?? null,
        limitPeriodStartDay: limit?.periodStartDay ?? null,
        limitPolicy: limit?.policy ?? null,
      };

export interface NewContributor {
  name: string;
  email?: string;
  kind: Row['kind'];
  paymentMethod: Row['paymentMethod'];
  earningsLimit?: EarningsLimitInput;
}

export async function createContributor(db: Db, organisationId: string, actor: Actor, input: NewContributor): Promise<ContributorResponse> {
  return inTransaction(db, async (tx) => {
    const [row] = await tx
      .insert(contributors)
      .values({
        organisationId,
        id: newId(),
        name: input.name,
        email: input.email ?? null,
        kind: input.kind,
        paymentMethod: input.paymentMethod,
        ...limitColumns(input.earningsLimit),
      })
      .returning();
    const view = toContributorResponse(row!);
    await recordAudit(tx, organisationId, actor, { action: 'contributor.created', entityType: 'contributor', entityId: view.id, after: view });
    return view;
  });
}

/** Errors: not_found (including another organisation's id or a malformed one). */
export async function getContributorRow(db: Db, organisationId: string, contributorId: string, forUpdate = false): Promise<Row> {
  if (!isUuid(contributorId)) throw notFound('The contributor');
  const query = db
    .select()
    .from(contributors)
    .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)));
  const [row] = forUpdate ? await query.for('update') : await query;
  if (!row) throw notFound('The contributor');
  return row;
}

export async function listContributors(
  db: Db,
  organisationId: string,
  filter: { kind?: Row['kind']; paymentMethod?: Row['paymentMethod'] },
  limit: number,
  afterId?: string,
) {
  const conditions: SQL[] = [eq(contributors.organisationId, organisationId)];
  if (filter.kind) conditions.push(eq(contributors.kind, filter.kind));
  if (filter.paymentMethod) conditions.push(eq(contributors.paymentMethod, filter.paymentMethod));
  if (afterId) conditions.push(gt(contributors.id, afterId));
  const rows = await db
    .select()
    .from(contributors)
    .where(and(...conditions))
    .orderBy(asc(contributors.id))
    .limit(limit + 1);
  return rows.map(toContributorResponse);
}

export interface ContributorPatch {
  name?: string;
  email?: string | null;
  kind?: Row['kind'];
  paymentMethod?: Row['paymentMethod'];
  earningsLimit?: EarningsLimitInput | null;
}

/** Errors: not_found. */
export async function updateContributor(
  db: Db,
  organisationId: string,
  actor: Actor,
  contributorId: string,
  patch: ContributorPatch,
  now: Date,
): Promise<ContributorResponse> {
  return inTransaction(db, async (tx) => {
    const before = toContributorResponse(await getContributorRow(tx, organisationId, contributorId, true));
    const { earningsLimit, ...simple } = patch;
    const [row] = await tx
      .update(contributors)
      .set({ ...simple, ...limitColumns(earningsLimit), updatedAt: now })
      .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)))
      .returning();
    const after = toContributorResponse(row!);
    await recordAudit(tx, organisationId, actor, {
      action: 'contributor.updated',
      entityType: 'contributor',
      entityId: contributorId,
      before,
      after,
    });
    return after;
  });
}
