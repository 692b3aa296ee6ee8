import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { organisations, users } from '../../db/schema.js';
import { inTransaction, pgConstraint } from '../../db/tx.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { systemActor, type Actor } from '../../domain/actor.js';
import { newId } from '../../lib/ids.js';
import { hashPassword, randomToken } from '../../lib/secrets.js';
import { applySettingsPatch, resolveSettings, type SettingsPatch, type StoredSettings } from './settings.js';

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

/** The organisation as the API shows it, with every setting in force. Errors: not_found. */
export async function getOrganisation(db: Db, organisationId: string, forUpdate = false) {
  const query = db
    .select({
      id: organisations.id,
      name: organisations.name,
      owedTargetDays: organisations.owedTargetDays,
      settings: organisations.settings,
      createdAt: organisations.createdAt,
    })
    .from(organisations)
    .where(eq(organisations.id, organisationId));
  const [row] = forUpdate ? await query.for('update') : await query;
  if (!row) throw notFound('The organisation');
  return { ...row, settings: resolveSettings(row.settings as StoredSettings), storedSettings: row.settings as StoredSettings };
}

export interface OrganisationPatch {
  name?: string;
  owedTargetDays?: number;
  /** Settings to change; any left out keep their value. */
  settings?: SettingsPatch;
}

/**
 * Updates the organisation's name, target or settings, audited with the settings in force
 * before and after. The row is locked, so two admins changing different settings at once
 * both keep their change. Errors: not_found.
 */
export async function updateOrganisation(db: Db, organisationId: string, actor: Actor, patch: OrganisationPatch) {
  return inTransaction(db, async (tx) => {
    const before = await getOrganisation(tx, organisationId, true);
    const { settings, ...columns } = patch;
    const values = {
      ...columns,
      ...(settings && Object.keys(settings).length ? { settings: applySettingsPatch(before.storedSettings, settings) } : {}),
    };
    if (Object.keys(values).length === 0) return before; // nothing to change
    await tx.update(organisations).set(values).where(eq(organisations.id, organisationId));
    const after = await getOrganisation(tx, organisationId);
    await recordAudit(tx, organisationId, actor, {
      action: 'organisation.updated',
      entityType: 'organisation',
      entityId: organisationId,
      before: auditView(before),
      after: auditView(after),
    });
    return after;
  });
}

/** What the audit log keeps of an organisation: what the API shows, settings in force included. */
const auditView = ({ storedSettings: _stored, ...shown }: Awaited<ReturnType<typeof getOrganisation>>) => shown;
