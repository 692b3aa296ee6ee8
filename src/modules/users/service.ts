import { and, eq, gt, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { apiTokens, contributors, revokedTokens, users } from '../../db/schema.js';
import type { Role } from '../../domain/enums.js';
import { inTransaction, pgConstraint } from '../../db/tx.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor, Principal } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import { dummyPasswordHash, hashPassword, needsRehash, randomToken, sha256, verifyPassword } from '../../lib/secrets.js';
import { toUserResponse, type UserResponse } from './views.js';
import { queueNotification } from '../notifications/outbox.js';
import { londonDate, londonTime } from '../../domain/uk-time.js';
import { date } from '../../web/format.js';

export const INVITE_TTL_MS = 7 * 24 * 3_600_000;

/** The columns toUserResponse reads. */
const viewColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  contributorId: users.contributorId,
  createdAt: users.createdAt,
  disabledAt: users.disabledAt,
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
              .select({ id: contributors.id, erasedAt: contributors.erasedAt })
              .from(contributors)
              .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, input.contributorId)))
          : [];
        if (!contributor) throw notFound('The contributor');
        if (contributor.erasedAt) throw new AppError('invalid_state', "This contributor's personal data was erased: they cannot be given a log-in.");
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
 * the same, and an unknown email's password is checked against a dummy hash, so it takes as
 * long as a current hash's check. A hash of another kind or cost takes longer (a scrypt hash
 * from before argon2id about ten times as long): the sign-in route answers every failure no
 * sooner than FAILED_SIGN_IN_MIN_MS after the check began, so its time does not tell either.
 * Errors: invalid_credentials.
 */
export async function authenticateUser(db: Db, email: string, password: string) {
  const [row] = await db
    .select({
      id: users.id,
      organisationId: users.organisationId,
      role: users.role,
      contributorId: users.contributorId,
      passwordHash: users.passwordHash,
      tokenVersion: users.tokenVersion,
      disabledAt: users.disabledAt,
    })
    .from(users)
    .where(sql`lower(${users.email}) = ${email.toLowerCase()}`);
  const ok = await verifyPassword(password, row?.passwordHash ?? (await dummyPasswordHash()));
  // A disabled user is told exactly what a wrong password is told: nothing about the account.
  if (!row || !row.passwordHash || !ok || row.disabledAt) {
    throw new AppError('invalid_credentials', 'The email or password is wrong.');
  }
  if (needsRehash(row.passwordHash)) {
    // Made at an older cost: now that we hold the password, store it at today's.
    const stored = row.passwordHash;
    await db
      .update(users)
      .set({ passwordHash: await hashPassword(password) })
      .where(and(eq(users.organisationId, row.organisationId), eq(users.id, row.id), eq(users.passwordHash, stored)));
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

export const RESET_TTL_MS = 24 * 3_600_000;

export interface UserChange {
  name?: string;
  role?: Role;
  disabled?: boolean;
}

/**
 * Renames, re-roles, disables or enables a user. Disabling bumps the user's token version and
 * revokes the API tokens they made, so every token they hold stops (and stays stopped after they
 * are enabled again: they sign in anew and make new tokens); a role change applies to tokens already issued, which carry no authority of their own
 * (see plugins/auth.ts). The organisation always keeps one active admin: the active admins are
 * locked first, so two admins demoting each other at once cannot both succeed.
 * Errors: not_found, invalid_state (the last active admin), validation_failed (a participant
 * needs a contributor).
 */
export async function updateUser(db: Db, organisationId: string, actor: Actor, userId: string, change: UserChange, now: Date): Promise<UserResponse> {
  if (!isUuid(userId)) throw notFound('The user');
  return inTransaction(db, async (tx) => {
    const admins = await tx
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.organisationId, organisationId), eq(users.role, 'admin'), isNull(users.disabledAt)))
      .for('update');
    const [before] = await tx
      .select({ ...viewColumns, tokenVersion: users.tokenVersion })
      .from(users)
      .where(and(eq(users.organisationId, organisationId), eq(users.id, userId)))
      .for('update');
    if (!before) throw notFound('The user');
    const wasActiveAdmin = before.role === 'admin' && before.disabledAt === null;
    const staysActiveAdmin = (change.role ?? before.role) === 'admin' && !(change.disabled ?? before.disabledAt !== null);
    if (wasActiveAdmin && !staysActiveAdmin && admins.filter((a) => a.id !== userId).length === 0) {
      throw new AppError('invalid_state', 'This is the organisation\'s last active admin: make someone else an admin first.');
    }
    if ((change.role ?? before.role) === 'participant' && !before.contributorId) {
      throw new AppError('validation_failed', 'A participant user must be linked to a contributor.', {
        errors: [{ field: 'body.role', message: 'participant needs a contributor; create a new participant user instead' }],
      });
    }
    const disabling = change.disabled === true && before.disabledAt === null;
    const enabling = change.disabled === false && before.disabledAt !== null;
    const values = {
      ...(change.name !== undefined && change.name !== before.name ? { name: change.name } : {}),
      ...(change.role !== undefined && change.role !== before.role ? { role: change.role } : {}),
      ...(disabling ? { disabledAt: now, tokenVersion: before.tokenVersion + 1 } : {}),
      ...(enabling ? { disabledAt: null } : {}),
    };
    // Nothing to change (an empty body, or the values the user already has): the user as they are.
    if (!Object.keys(values).length) return toUserResponse(before);
    const [row] = await tx
      .update(users)
      .set(values)
      .where(and(eq(users.organisationId, organisationId), eq(users.id, userId)))
      .returning(viewColumns);
    if (disabling) {
      // Disabling revokes: the API tokens they made stop for good, like their sessions.
      const revoked = await tx
        .update(apiTokens)
        .set({ revokedAt: now })
        .where(and(eq(apiTokens.organisationId, organisationId), eq(apiTokens.createdBy, userId), isNull(apiTokens.revokedAt)))
        .returning({ id: apiTokens.id });
      for (const token of revoked) {
        await recordAudit(tx, organisationId, actor, { action: 'api_token.revoked', entityType: 'api_token', entityId: token.id, after: { reason: 'maker disabled' } });
      }
    }
    const view = toUserResponse(row!);
    const action = disabling ? 'user.disabled' : enabling ? 'user.enabled' : 'user.updated';
    await recordAudit(tx, organisationId, actor, { action, entityType: 'user', entityId: userId, before: toUserResponse(before), after: view });
    return view;
  });
}

/**
 * Issues a one-time password reset for a user (an admin's doing): the token is returned once,
 * stored hashed, and expires in 24 hours. Errors: not_found.
 */
export async function issuePasswordReset(db: Db, organisationId: string, actor: Actor, userId: string, now: Date) {
  if (!isUuid(userId)) throw notFound('The user');
  const resetToken = randomToken();
  return inTransaction(db, async (tx) => {
    const [row] = await tx
      .update(users)
      .set({ resetTokenHash: sha256(resetToken), resetExpiresAt: new Date(now.getTime() + RESET_TTL_MS) })
      .where(and(eq(users.organisationId, organisationId), eq(users.id, userId)))
      .returning({ id: users.id, email: users.email, preferences: users.notificationPreferences });
    if (!row) throw notFound('The user');
    await recordAudit(tx, organisationId, actor, { action: 'user.password_reset_issued', entityType: 'user', entityId: userId });
    const expiresAt = new Date(now.getTime() + RESET_TTL_MS);
    // Emailed too (where email is configured): the code travels in the link's fragment, and the
    // outbox drops it once the message is sent or given up (notifications/delivery.ts).
    await queueNotification(
      tx,
      organisationId,
      {
        kind: 'password_reset',
        recipients: [{ userId: row.id, contributorId: null, address: row.email, preferences: row.preferences }],
        link: `/reset-password#${resetToken}`,
        data: { expiresAtInWords: `${londonTime(expiresAt)} on ${date(londonDate(expiresAt))}` },
        about: `reset:${sha256(resetToken)}`,
      },
      now,
    );
    return { userId: row.id, email: row.email, resetToken, expiresAt };
  });
}

/**
 * Sets a new password with a reset token and spends it; every token the user held before
 * stops. Errors: invalid_credentials for an unknown, used or expired token (all alike).
 */
export async function resetPassword(db: Db, resetToken: string, password: string, now: Date) {
  const passwordHash = await hashPassword(password);
  return inTransaction(db, async (tx) => {
    const [row] = await tx
      .update(users)
      .set({ passwordHash, resetTokenHash: null, resetExpiresAt: null, tokenVersion: sql`${users.tokenVersion} + 1` })
      .where(and(eq(users.resetTokenHash, sha256(resetToken)), gt(users.resetExpiresAt, now)))
      .returning({ id: users.id, organisationId: users.organisationId, email: users.email });
    if (!row) throw new AppError('invalid_credentials', 'The reset code is not valid or has expired.');
    await recordAudit(tx, row.organisationId, { type: 'user', id: row.id }, { action: 'user.password_reset', entityType: 'user', entityId: row.id });
    return row;
  });
}

/**
 * Revokes the credential a request came with: a JWT until it would have expired, an API token
 * for good. Expired revocations of the same user are cleared on the way.
 */
export async function revokeOwnToken(db: Db, principal: Principal, now: Date): Promise<void> {
  await inTransaction(db, async (tx) => {
    if (principal.apiTokenId) {
      await tx
        .update(apiTokens)
        .set({ revokedAt: now })
        .where(and(eq(apiTokens.organisationId, principal.organisationId), eq(apiTokens.id, principal.apiTokenId), isNull(apiTokens.revokedAt)));
      await recordAudit(tx, principal.organisationId, { type: 'api_token', id: principal.apiTokenId }, {
        action: 'api_token.revoked',
        entityType: 'api_token',
        entityId: principal.apiTokenId,
      });
      return;
    }
    if (!principal.userId || !principal.jti) return; // a token from before tokens had ids: it expires on its own
    await tx.delete(revokedTokens).where(and(eq(revokedTokens.organisationId, principal.organisationId), eq(revokedTokens.userId, principal.userId), lt(revokedTokens.expiresAt, now)));
    await tx
      .insert(revokedTokens)
      .values({ organisationId: principal.organisationId, jti: principal.jti, userId: principal.userId, expiresAt: principal.expiresAt ?? new Date(now.getTime() + 86_400_000) })
      .onConflictDoNothing();
  });
}

/** Drops revocations of tokens that have expired anyway (run by the hourly purge). */
export async function purgeRevokedTokens(db: Db, now: Date): Promise<void> {
  await db.delete(revokedTokens).where(lt(revokedTokens.expiresAt, now));
}
