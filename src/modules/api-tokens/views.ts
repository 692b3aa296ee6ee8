/**
 * What the API shows of an API token: the response schemas (which also document them in the
 * OpenAPI document) and the mapper from the token's columns, side by side so they cannot drift.
 * The token itself is shown once, when it is issued; after that only its name, role and dates.
 */
import { z } from 'zod';
import type { apiTokens } from '../../db/schema.js';
import { roleEnum } from '../../lib/schemas.js';
import { shown } from '../../lib/views.js';

/** The columns a token's response is made of (the service selects just these). */
export type ApiTokenRow = Pick<
  typeof apiTokens.$inferSelect,
  'id' | 'name' | 'role' | 'createdAt' | 'revokedAt' | 'createdBy' | 'expiresAt' | 'lastUsedAt'
>;

export const apiTokenResponse = z.object({
  id: z.string(),
  name: z.string(),
  role: roleEnum,
  /** The user who made it and for whom it acts. */
  createdBy: z.string().nullable(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime().nullable(),
  /** To the minute. */
  lastUsedAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
});
export type ApiTokenResponse = z.infer<typeof apiTokenResponse>;

/** A token as issued, with the token itself. */
export const newApiTokenResponse = z.object({ id: z.string(), name: z.string(), role: roleEnum, expiresAt: z.iso.datetime().nullable(), token: z.string() });
export type NewApiTokenResponse = z.infer<typeof newApiTokenResponse>;

export function toApiTokenResponse(row: ApiTokenRow): ApiTokenResponse {
  return shown(row, ['id', 'name', 'role', 'createdBy', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt']);
}
