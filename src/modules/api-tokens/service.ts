import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { apiTokens } from '../../db/schema.js';
import type { Role } from '../../domain/enums.js';
import { inTransaction } from '../../db/tx.js';
import { notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import { randomToken, sha256 } from '../../lib/secrets.js';
import { API_TOKEN_PREFIX } from '../../plugins/auth.js';
import { toApiTokenResponse, type NewApiTokenResponse } from './views.js';

/** The columns toApiTokenResponse reads. */
const viewColumns = {
  id: apiTokens.id,
  name: apiTokens.name,
  role: apiTokens.role,
  createdAt: apiTokens.createdAt,
  revokedAt: apiTokens.revokedAt,
};

/** Issues an API token for a script. The token is returned once and stored only as a hash. */
export async function createApiToken(db: Db, organisationId: string, actor: Actor, input: { name: string; role: Role }): Promise<NewApiTokenResponse> {
  const id = newId();
  const token = `${API_TOKEN_PREFIX}${randomToken()}`;
  return inTransaction(db, async (tx) => {
    await tx.insert(apiTokens).values({
      organisationId,
      id,
      name: input.name,
      role: input.role,
      tokenHash: sha256(token),
      createdBy: actor.id,
    });
    await recordAudit(tx, organisationId, actor, { action: 'api_token.created', entityType: 'api_token', entityId: id, after: input });
    return { id, name: input.name, role: input.role, token };
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
