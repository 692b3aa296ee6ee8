/**
 * What the API shows of the caller's organisation: the response schema (which also documents
 * it in the OpenAPI document) and the mapper from the organisation's columns, side by side so
 * they cannot drift. Never the key its pseudonyms are made with.
 */
import { z } from 'zod';
import type { organisations } from '../../db/schema.js';
import { settingsResponse, type Settings } from './settings.js';
import { shown } from '../../lib/views.js';

/** The columns an organisation's response is made of (getOrganisation selects just these), settings in force. */
export type OrganisationRow = Pick<typeof organisations.$inferSelect, 'id' | 'name' | 'owedTargetDays' | 'createdAt'> & { settings: Settings };

export const organisationResponse = z.object({
  id: z.string(),
  name: z.string(),
  owedTargetDays: z.number().int(),
  settings: settingsResponse,
  createdAt: z.iso.datetime(),
});
export type OrganisationResponse = z.infer<typeof organisationResponse>;

export function toOrganisationResponse(row: OrganisationRow): OrganisationResponse {
  return shown(row, ['id', 'name', 'owedTargetDays', 'createdAt'], {
    settings: shown(row.settings, ['timeApprovalBySecondPerson', 'submittedTimeReminderDays']),
  });
}
