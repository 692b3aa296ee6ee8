/**
 * What the API shows of the caller's organisation: the response schema (which also documents
 * it in the OpenAPI document) and the mapper from the organisation's columns, side by side so
 * they cannot drift. Never the key its pseudonyms are made with.
 */
import { z } from 'zod';
import type { organisations } from '../../db/schema.js';

/** The columns an organisation's response is made of (getOrganisation selects just these). */
export type OrganisationRow = Pick<typeof organisations.$inferSelect, 'id' | 'name' | 'owedTargetDays' | 'createdAt'>;

export const organisationResponse = z.object({
  id: z.string(),
  name: z.string(),
  owedTargetDays: z.number().int(),
  createdAt: z.iso.datetime(),
});
export type OrganisationResponse = z.infer<typeof organisationResponse>;

export function toOrganisationResponse(row: OrganisationRow): OrganisationResponse {
  return { id: row.id, name: row.name, owedTargetDays: row.owedTargetDays, createdAt: row.createdAt.toISOString() };
}
