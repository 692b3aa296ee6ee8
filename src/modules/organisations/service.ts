import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { organisations, users } from '../../db/schema.js';
import { inTransaction, pgConstraint } from '../../db/tx.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { systemActor, type Actor } from '../../domain/actor.js';
import { newId } from '../../lib/ids.js';
import { hashPassword, randomToken } from '../../lib/secrets.js';

export interface NewOrganisation {
  name: string;
  adminEmail: string;
  adminName?: string;
  adminPassword: string;
}

/**
 * Creates an organisation (a tenant) and its first admin user, in one transaction.
 * Errors: already_exists (409) when the admin email is taken.
 */
export async function createOrganisation(
  db: Db,
  input: NewOrganisation,
  actor: Actor = systemActor('cli'),
): Promise<{ organisationId: string; adminUserId: string }> {
  const organisationId = newId();
  const adminUserId = newId();
  const passwordHash = await hashPassword(input.adminPassword);
  try {
    await inTransaction(db, async (tx) => {
      await tx.insert(organisations).values({ id: organisationId, name: input.name, pseudonymKey: randomToken() });
      await tx.insert(users).values({
        organisationId,
        id: adminUserId,
        email: input.adminEmail.toLowerCase(),
        name: input.adminName ?? input.adminEmail,
        role: 'admin',
        passwordHash,
      });
      await recordAudit(tx, organisationId, actor, {
        action: 'organisation.created',
        entityType: 'organisation',
        entityId: organisationId,
        after: { name: input.name, adminUserId },
      });
    });
  } catch (error) {
    if (pgConstraint(error) === 'users_email_unique') {
      throw new AppError('already_exists', 'A user with that email already exists.');
    }
    throw error;
  }
  return { organisationId, adminUserId };
}

export async function getOrganisation(db: Db, organisationId: string) {
  const [row] = await db
    .select({ id: organisations.id, name: organisations.name, owedTargetDays: organisations.owedTargetDays, createdAt: organisations.createdAt })
    .from(organisations)
    .where(eq(organisations.id, organisationId));
  if (!row) throw notFound('The organisation');
  return row;
}

/** Updates the organisation's settings. Errors: not_found. */
export async function updateOrganisation(
  db: Db,
  organisationId: string,
  actor: Actor,
  patch: { name?: string; owedTargetDays?: number },
) {
  return inTransaction(db, async (tx) => {
    const before = await getOrganisation(tx, organisationId);
    if (Object.keys(patch).length === 0) return before; // nothing to change
    await tx.update(organisations).set(patch).where(eq(organisations.id, organisationId));
    const after = await getOrganisation(tx, organisationId);
    await recordAudit(tx, organisationId, actor, {
      action: 'organisation.updated',
      entityType: 'organisation',
      entityId: organisationId,
      before,
      after,
    });
    return after;
  });
}
