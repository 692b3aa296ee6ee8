import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { apiTokens, revokedTokens, users } from '../db/schema.js';
import type { Role } from '../domain/enums.js';

/**
 * What every authenticated request must know about its credential, read from the database at
 * most once a second per user or token and shared by all requests in that second.
 *
 * Why a cache and why one second: checking the database on every request would put a query in
 * front of every read the service answers, while a change of who may do what (a user disabled,
 * demoted, logged out) must bite quickly. Changes made by this process drop the entry at once;
 * changes made by another instance are seen when the entry expires, so within a second
 * everywhere. Entries are promises, so a burst of requests for one user makes one query.
 */
export const ACCESS_STATE_TTL_MS = 1_000;

export interface UserAccess {
  role: Role;
  contributorId: string | null;
  tokenVersion: number;
  disabled: boolean;
  /** JWT ids of this user's tokens revoked by logout and not yet expired. */
  revokedJtis: ReadonlySet<string>;
}

export interface ApiTokenAccess {
  id: string;
  organisationId: string;
  role: Role;
  /** The user who made it and for whom it acts. */
  userId: string | null;
  revoked: boolean;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  /** Its maker is disabled (or gone): the token stops with them. */
  makerDisabled: boolean;
  /** The contributor its maker is, if any: what the maker may not approve, the token may not either. */
  makerContributorId: string | null;
}

/** A bound on memory: past this many entries the cache starts again (the next second refills it). */
const MAX_ENTRIES = 50_000;

class ExpiringCache<T> {
  private readonly entries = new Map<string, { value: Promise<T>; expires: number }>();
  constructor(private readonly ttlMs: number) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = performance.now();
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    const value = load();
    this.entries.set(key, { value, expires: now + this.ttlMs });
    // A failed load (the database briefly down) is not remembered.
    value.catch(() => this.entries.delete(key));
    return value;
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

export class AccessState {
  private readonly userEntries: ExpiringCache<UserAccess | null>;
  private readonly tokenEntries: ExpiringCache<ApiTokenAccess | null>;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date,
    ttlMs = ACCESS_STATE_TTL_MS,
  ) {
    this.userEntries = new ExpiringCache(ttlMs);
    this.tokenEntries = new ExpiringCache(ttlMs);
  }

  user(organisationId: string, userId: string): Promise<UserAccess | null> {
    return this.userEntries.get(`${organisationId}/${userId}`, async () => {
      const [row] = await this.db
        .select({
          role: users.role,
          contributorId: users.contributorId,
          tokenVersion: users.tokenVersion,
          disabledAt: users.disabledAt,
          revoked: sql<string[] | null>`(select array_agg(${revokedTokens.jti}::text) from ${revokedTokens}
            where ${revokedTokens.organisationId} = ${users.organisationId} and ${revokedTokens.userId} = ${users.id}
              and ${revokedTokens.expiresAt} > ${this.now()})`,
        })
        .from(users)
        .where(and(eq(users.organisationId, organisationId), eq(users.id, userId)));
      if (!row) return null;
      return {
        role: row.role,
        contributorId: row.contributorId,
        tokenVersion: row.tokenVersion,
        disabled: row.disabledAt !== null,
        revokedJtis: new Set(row.revoked ?? []),
      };
    });
  }

  apiToken(tokenHash: string): Promise<ApiTokenAccess | null> {
    return this.tokenEntries.get(tokenHash, async () => {
      const [row] = await this.db
        .select({
          id: apiTokens.id,
          organisationId: apiTokens.organisationId,
          role: apiTokens.role,
          userId: apiTokens.createdBy,
          revokedAt: apiTokens.revokedAt,
          expiresAt: apiTokens.expiresAt,
          lastUsedAt: apiTokens.lastUsedAt,
          makerDisabledAt: users.disabledAt,
          makerId: users.id,
          makerContributorId: users.contributorId,
        })
        .from(apiTokens)
        .leftJoin(users, and(eq(users.organisationId, apiTokens.organisationId), eq(users.id, apiTokens.createdBy)))
        .where(eq(apiTokens.tokenHash, tokenHash))
        .limit(1);
      if (!row) return null;
      return {
        id: row.id,
        organisationId: row.organisationId,
        role: row.role,
        userId: row.userId,
        revoked: row.revokedAt !== null,
        expiresAt: row.expiresAt,
        lastUsedAt: row.lastUsedAt,
        // Tokens made before tokens had makers (createdBy null) act for nobody in particular.
        makerDisabled: row.userId !== null && (row.makerId === null || row.makerDisabledAt !== null),
        makerContributorId: row.makerContributorId ?? null,
      };
    });
  }

  /** Records that a token was used, at most once a minute per token (a write per request would not do). */
  async touchApiToken(token: ApiTokenAccess, tokenHash: string): Promise<void> {
    const now = this.now();
    if (token.lastUsedAt && now.getTime() - token.lastUsedAt.getTime() < 60_000) return;
    token.lastUsedAt = now;
    await this.db
      .update(apiTokens)
      .set({ lastUsedAt: now })
      .where(and(eq(apiTokens.tokenHash, tokenHash), sql`(${apiTokens.lastUsedAt} is null or ${apiTokens.lastUsedAt} < ${new Date(now.getTime() - 60_000)})`));
  }

  /**
   * Drops what this process knows of a user after a change to them, and of every API token
   * (a token's entry carries its maker's state; changes to people are rare, so clearing all of
   * them costs a query per token in the next second, nothing more).
   */
  forgetUser(organisationId: string, userId: string): void {
    this.userEntries.forget(`${organisationId}/${userId}`);
    this.tokenEntries.clear();
  }

  /** After a token is revoked or changed. */
  forgetApiTokens(): void {
    this.tokenEntries.clear();
  }
}
