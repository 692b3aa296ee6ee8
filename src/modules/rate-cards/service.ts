import { and, asc, eq, gt, sql, type SQL } from 'drizzle-orm';
import { organisationRow, type Db } from '../../db/client.js';
import { rateCards, rateCardVersions } from '../../db/schema.js';
import { inTransaction, pgConstraint } from '../../db/tx.js';
import { validateRates, type Rate, type RateCardVersion } from '../../domain/rate-card.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { newId } from '../../lib/ids.js';
import { toRateCardResponse, toRateCardVersionResponse, type RateCardRow } from './views.js';

export async function createRateCard(db: Db, organisationId: string, actor: Actor, input: { name: string; currency: string }) {
  return inTransaction(db, async (tx) => {
    const [row] = await tx.insert(rateCards).values({ organisationId, id: newId(), ...input }).returning();
    const view = toRateCardResponse(row!);
    await recordAudit(tx, organisationId, actor, { action: 'rate_card.created', entityType: 'rate_card', entityId: view.id, after: view });
    return view;
  });
}

/** Errors: not_found. */
export function getRateCardRow(db: Db, organisationId: string, rateCardId: string, forUpdate = false): Promise<RateCardRow> {
  return organisationRow(db, rateCards, 'The rate card', organisationId, rateCardId, forUpdate ? 'for update' : 'no lock');
}

/** The versions of a rate card, oldest first, in the shape the pure rate lookup takes. */
export async function loadVersions(db: Db, organisationId: string, rateCardId: string): Promise<RateCardVersion[]> {
  const rows = await db
    .select()
    .from(rateCardVersions)
    .where(and(eq(rateCardVersions.organisationId, organisationId), eq(rateCardVersions.rateCardId, rateCardId)))
    .orderBy(asc(rateCardVersions.version));
  return rows.map((r) => ({ id: r.id, version: r.version, effectiveFrom: r.effectiveFrom, rates: r.rates as Rate[] }));
}

export async function getRateCard(db: Db, organisationId: string, rateCardId: string) {
  const card = await getRateCardRow(db, organisationId, rateCardId);
  const versions = await db
    .select()
    .from(rateCardVersions)
    .where(and(eq(rateCardVersions.organisationId, organisationId), eq(rateCardVersions.rateCardId, rateCardId)))
    .orderBy(asc(rateCardVersions.version));
  return { ...toRateCardResponse(card), versions: versions.map(toRateCardVersionResponse) };
}

export async function listRateCards(db: Db, organisationId: string, limit: number, afterId?: string) {
  const conditions: SQL[] = [eq(rateCards.organisationId, organisationId)];
  if (afterId) conditions.push(gt(rateCards.id, afterId));
  const rows = await db.select().from(rateCards).where(and(...conditions)).orderBy(asc(rateCards.id)).limit(limit + 1);
  return rows.map(toRateCardResponse);
}

/**
 * Adds a version. Versions are numbered 1, 2, 3… and never change once created (a trigger
 * refuses UPDATE and DELETE); a version applies to work dated on or after its effectiveFrom.
 * Errors: not_found, validation_failed (duplicate or unusable rates), already_exists (a
 * version already starts on that date).
 */
export async function addRateCardVersion(
  db: Db,
  organisationId: string,
  actor: Actor,
  rateCardId: string,
  input: { effectiveFrom: string; rates: Rate[] },
) {
  const problems = validateRates(input.rates);
  if (problems.length) {
    throw new AppError('validation_failed', problems.map((p) => p.message).join('; '), {
      errors: problems.map((p) => ({ field: `body.rates.${p.index}.${p.field}`, message: p.message })),
    });
  }
  try {
    return await inTransaction(db, async (tx) => {
      // Locking the card numbers versions one at a time.
      await getRateCardRow(tx, organisationId, rateCardId, true);
      const [{ next } = { next: 1 }] = await tx
        .select({ next: sql<number>`coalesce(max(${rateCardVersions.version}), 0)::int + 1` })
        .from(rateCardVersions)
        .where(and(eq(rateCardVersions.organisationId, organisationId), eq(rateCardVersions.rateCardId, rateCardId)));
      const [row] = await tx
        .insert(rateCardVersions)
        .values({
          organisationId,
          id: newId(),
          rateCardId,
          version: next,
          effectiveFrom: input.effectiveFrom,
          rates: input.rates,
          createdBy: actor.id,
        })
        .returning();
      const view = toRateCardVersionResponse(row!);
      await recordAudit(tx, organisationId, actor, { action: 'rate_card.version_added', entityType: 'rate_card', entityId: rateCardId, after: view });
      return view;
    });
  } catch (error) {
    if (pgConstraint(error) === 'rate_card_versions_date_unique') {
      throw new AppError('already_exists', `A version of this rate card already starts on ${input.effectiveFrom}.`);
    }
    throw error;
  }
}
