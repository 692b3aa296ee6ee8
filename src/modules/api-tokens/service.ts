import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { apiTokens } from '../../db/schema.js';
import type { Role } from '../../domain/enums.js';
import { inTransaction } from '../../db/tx.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import { API_TOKEN_PREFIX, randomToken, sha256 } from '../../lib/secrets.js';
import { toApiTokenResponse, type NewApiTokenResponse } from './views.js';

/** The columns toApiTokenResponse reads. */
const viewColumns = {
  id: apiTokens.id,
  name: apiTokens.name,
  role: apiTokens.role,
  createdAt: apiTokens.createdAt,
  revokedAt: apiTokens.revokedAt,
  createdBy: apiTokens.createdBy,
  expiresAt: apiTokens.expiresAt,
  lastUsedAt: apiTokens.lastUsedAt,
};

/**
 * Issues an API token for a script. The token is returned once and stored only as a hash. It
 * acts for `madeBy`, the person making it: disabling them stops it, and rules that count
 * people (four eyes) count it as them.
 * Errors: validation_failed (an expiry already past).
 */
export async function createApiToken(
  db: Db,
  organisationId: string,
  actor: Actor,
  input: { name: string; role: Role; expiresAt?: string; madeBy?: string | null },
  now: Date,
): Promise<NewApiTokenResponse> {
  // By default the user acting makes it; a route passes the person behind an API token.
  const madeBy = input.madeBy !== undefined ? input.madeBy : actor.type === 'user' ? actor.id : null;
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
  if (expiresAt && expiresAt <= now) {
    throw new AppError('validation_failed', 'The expiry must be in the future.', { errors: [{ field: 'body.expiresAt', message: 'must be in the future' }] });
  }
  const id = newId();
  const token = `${API_TOKEN_PREFIX}${randomToken()}`;
  return inTransaction(db, async (tx) => {
    await tx.insert(apiTokens).values({
      organisationId,
      id,
      name: input.name,
      role: input.role,
      tokenHash: sha256(token),
      createdBy: madeBy,
      expiresAt,
    });
    const view = { name: input.name, role: input.role, createdBy: madeBy, expiresAt: expiresAt?.toISOString() ?? null };
    await recordAudit(tx, organisationId, actor, { action: 'api_token.created', entityType: 'api_token', entityId: id, after: view });
    return { id, name: input.name, role: input.role, expiresAt: view.expiresAt, token };
  });
}

export async function listApiTokens(db: Db, organisationId: string, limit: number, afterId?: string) {
  const rows = await db
    .select(viewColumns)
    .from(apiTokens)
    .where(and(eq(apiTokens.organisationId, organisationId), afterId ? gt(apiTokens.id, afterId) : undefined))
    .orderBy(apiTokens.id)
    .limit(limit + 1);
  return rows.map(toApiTokenResponse);
}

/** Revokes a token at once: the next request with it gets 401. Errors: not_found. */
export async function revokeApiToken(db: Db, organisationId: string, actor: Actor, tokenId: string, now: Date) {
  if (!isUuid(tokenId)) throw notFound('The API token');
  return inTransaction(db, async (tx) => {
    const [row] = await tx
      .update(apiTokens)
      .set({ revokedAt: now })
      .where(and(eq(apiTokens.organisationId, organisationId), eq(apiTokens.id, tokenId), isNull(apiTokens.revokedAt)))
      .returning(viewColumns);
    if (!row) {
      const [existing] = await tx
        .select({ id: apiTokens.id })
        .from(apiTokens)
        .where(and(eq(apiTokens.organisationId, organisationId), eq(apiTokens.id, tokenId)));
      if (!existing) throw notFound('The API token');
      return; // already revoked: revoking again changes nothing
    }
    await recordAudit(tx, organisationId, actor, {
      action: 'api_token.revoked',
      entityType: 'api_token',
      entityId: tokenId,
      after: { revokedAt: now.toISOString() },
    });
  });
}
