import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { apiTokens, users } from '../db/schema.js';
import { isUuid } from './ids.js';

/**
 * The person behind a recorded actor id: a user is themselves; an API token is the user who
 * made it; anything else (the system, a token nobody made) is nobody. Rules that count people
 * (four eyes, approving time one submitted) compare these, so two credentials of one person
 * never count as two people.
 */
export async function personBehind(db: Db, organisationId: string, actorId: string | null): Promise<string | null> {
  // `system` (the schedule, webhooks) and other non-ids are nobody.
  if (!actorId || !isUuid(actorId)) return null;
  const user = await userOf(db, organisationId, actorId);
  if (user) return user.id;
  const [token] = await db
    .select({ maker: apiTokens.createdBy })
    .from(apiTokens)
    .where(and(eq(apiTokens.organisationId, organisationId), eq(apiTokens.id, actorId)));
  return token?.maker ?? null;
}

/** The contributor a person is (a participant, or a member of staff who is also paid), if any. */
export async function contributorOfPerson(db: Db, organisationId: string, personId: string | null): Promise<string | null> {
  if (!personId || !isUuid(personId)) return null;
  return (await userOf(db, organisationId, personId))?.contributorId ?? null;
}

/** The organisation's user with this id, if there is one. */
async function userOf(db: Db, organisationId: string, userId: string) {
  const [user] = await db
    .select({ id: users.id, contributorId: users.contributorId })
    .from(users)
    .where(and(eq(users.organisationId, organisationId), eq(users.id, userId)));
  return user;
}
