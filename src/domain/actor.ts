/**
 * Who is asking and who did it. A `Principal` is the authenticated caller of a request (what
 * services check permissions against); an `Actor` is what the audit log and the ledger record
 * as having made a change. Both are plain values: the HTTP layer builds them, services take
 * them, and neither depends on Fastify.
 */
import type { ActorType, Role } from './enums.js';

/** The authenticated caller of a request. */
export interface Principal {
  organisationId: string;
  role: Role;
  /** The user, for JWTs; null for API tokens. */
  userId: string | null;
  /** The API token, for scripts; null for users. */
  apiTokenId: string | null;
  /** The contributor a participant user is linked to (or a staff user who is also one). */
  contributorId: string | null;
  /**
   * The person behind the credential: the user, or the user who made the API token. Rules
   * that count people (four eyes, self-approval) compare these. Null for a token nobody made.
   */
  personId?: string | null;
  /** A JWT's id and expiry, so logout can revoke it; absent for API tokens. */
  jti?: string | null;
  expiresAt?: Date | null;
}

/** Who did something: a user, a script's API token, or the system itself (jobs, webhooks). */
export interface Actor {
  type: ActorType;
  id: string | null;
  requestId?: string;
}

export const systemActor = (what: string): Actor => ({ type: 'system', id: what });
