/**
 * What the API shows of a user: the response schema (which also documents it in the OpenAPI
 * document) and the mapper from the user's columns, side by side so they cannot drift. Never
 * the password hash or the invite token's hash.
 */
import { z } from 'zod';
import type { users } from '../../db/schema.js';
import { roleEnum } from '../../lib/schemas.js';
import { shown } from '../../lib/views.js';

/** The columns a user's response is made of (the service selects just these). */
export type UserRow = Pick<typeof users.$inferSelect, 'id' | 'email' | 'name' | 'role' | 'contributorId' | 'createdAt' | 'disabledAt'>;

export const userResponse = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role: roleEnum,
  contributorId: z.string().nullable(),
  /** True while the user is disabled (they cannot sign in; their tokens are refused). */
  disabled: z.boolean(),
  createdAt: z.iso.datetime(),
});
userResponse.register(z.globalRegistry, { id: 'User' });
export type UserResponse = z.infer<typeof userResponse>;

export function toUserResponse(row: UserRow): UserResponse {
  return shown(row, ['id', 'email', 'name', 'role', 'contributorId', 'createdAt'], { disabled: row.disabledAt !== null });
}
