import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { contributors, users } from '../../db/schema.js';
import type { Role } from '../../domain/enums.js';
import { inTransaction, pgConstraint } from '../../db/tx.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import { dummyPasswordHash, hashPassword, randomToken, sha256, verifyPassword } from '../../lib/secrets.js';
import { toUserResponse, type UserResponse } from './views.js';

export const INVITE_TTL_MS = 7 * 24 * 3_600_000;

/** The columns toUserResponse reads. */
const viewColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  contributorId: users.contributorId,
  createdAt: users.createdAt,
};

export interface NewUser {
  email: string;
  name: string;
  role: Role;
  password?: string;
  contributorId?: string | null;
}

/**
 * Adds a user to the caller's organisation. Without a password the user gets a one-time invite
 * token (returned once, stored hashed) to set one.
 * Errors: validation_failed (participant without contributorId), not_found (no such contributor
 * in the organisation), already_exists (email taken).
 */
export async function createUser(
  db: Db,
  organisationId: string,
  actor: Actor,
  input: NewUser,
  now: Date,
): Promise<UserResponse & { inviteToken?: string }> {
  if (input.role === 'participant' && !input.contributorId) {
    throw new AppError('validation_failed', 'A participant user must name its contributorId.', {
      errors: [{ field: 'body.contributorId', message: 'is required for the participant role' }],
    });
  }
  const passwordHash = input.password ? await hashPassword(input.password) : null;
  const inviteToken = input.password ? undefined : randomToken();
  const id = newId();
  try {
    return await inTransaction(db, async (tx) => {
      if (input.contributorId) {
        const [contributor] = isUuid(input.contributorId)
          ? await tx
              .select({ id: contributors.id })
              .from(contributors)
              .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, input.contributorId)))
          : [];
        if (!contributor) throw notFound('The contributor');
      }
      const [row] = await tx
        .insert(users)
        .values({
          organisationId,
          id,
          email: input.email.toLowerCase(),
          name: input.name,
          role: input.role,
          contributorId: input.contributorId ?? null,
          passwordHash,
          inviteTokenHash: inviteToken ? sha256(inviteToken) : null,
          inviteExpiresAt: inviteToken ? new Date(now.getTime() + INVITE_TTL_MS) : null,
        })
        .returning(viewColumns);
      const view = toUserResponse(row!);
      await recordAudit(tx, organisationId, actor, { action: 'user.created', entityType: 'user', entityId: id, after: view });
      return inviteToken ? { ...view, inviteToken } : view;
    });
  } catch (error) {
    if (pgConstraint(error) === 'users_email_unique') throw new AppError('already_exists', 'A user with that email already exists.');
    throw error;
  }
}

export async function listUsers(db: Db, organisationId: string, limit: number, afterId?: string): Promise<UserResponse[]> {
  const rows = await db
    .select(viewColumns)
    .from(users)
    .where(and(eq(users.organisationId, organisationId), afterId ? gt(users.id, afterId) : undefined))
    .orderBy(users.id)
    .limit(limit + 1);
  return rows.map(toUserResponse);
}

export async function getUser(db: Db, organisationId: string, userId: string): Promise<UserResponse> {
  if (!isUuid(userId)) throw notFound('The user');
  const [row] = await db
    .select(viewColumns)
    .from(users)
    .where(and(eq(users.organisationId, organisationId), eq(users.id, userId)));
  if (!row) throw notFound('The user');
  return toUserResponse(row);
}

/**
 * Checks an email and password. The answer for an unknown email and for a wrong password is
 * the same, and takes the same time (a dummy hash is checked), so it never reveals who has an
 * account. Errors: invalid_credentials.
 */
export async function authenticateUser(db: Db, email: string, password: string) {
  const [row] = await db
    .select({
      id: users.id,
      organisationId: users.organisationId,
      role: users.role,
      contributorId: users.contributorId,
      passwordHash: users.passwordHash,
    })
    .from(users)
    .where(sql`lower(${users.email}) = ${email.toLowerCase()}`);
  const ok = await verifyPassword(password, row?.passwordHash ?? (await dummyPasswordHash()));
  if (!row || !row.passwordHash || !ok) {
    throw new AppError('invalid_credentials', 'The email or password is wrong.');
  }
  return row;
}

/**
 * Sets the password of an invited user and spends the invite. Errors: invalid_credentials for
 * an unknown, used or expired invite (all alike, so tokens cannot be probed).
 */
export async function acceptInvite(db: Db, inviteToken: string, password: string, now: Date) {
  const passwordHash = await hashPassword(password);
  return inTransaction(db, async (tx) => {
    const [row] = await tx
      .update(users)
      .set({ passwordHash, inviteTokenHash: null, inviteExpiresAt: null })
      .where(and(eq(users.inviteTokenHash, sha256(inviteToken)), gt(users.inviteExpiresAt, now), isNull(users.passwordHash)))
      .returning({ id: users.id, organisationId: users.organisationId, email: users.email });
    if (!row) throw new AppError('invalid_credentials', 'The invite is not valid or has expired.');
    await recordAudit(tx, row.organisationId, { type: 'user', id: row.id }, {
      action: 'user.invite_accepted',
      entityType: 'user',
      entityId: row.id,
    });
    return row;
  });
}
