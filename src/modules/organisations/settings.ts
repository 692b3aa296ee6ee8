/**
 * The settings an admin changes for the whole organisation (`PATCH /v1/organisation`), kept in
 * `organisations.settings` (jsonb). What is stored is only what an admin set; everyone reads
 * them through `resolveSettings`, which fills in each default, so a setting added later needs
 * no migration and an organisation that never touched it behaves as it always did.
 */
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { organisations, type OrganisationSettings } from '../../db/schema.js';
import { notFound } from '../../errors.js';

/** What may be stored: only what an admin set (see OrganisationSettings in the schema). */
export type StoredSettings = OrganisationSettings;

export const DEFAULT_SUBMITTED_TIME_REMINDER_DAYS = 3;

/** Every setting with its value in force: the stored one, else its default. */
export interface Settings {
  timeApprovalBySecondPerson: boolean;
  /** Coordinators' daily digest lists time submitted more than this many days ago. */
  submittedTimeReminderDays: number;
}

export function resolveSettings(stored: StoredSettings | null | undefined): Settings {
  return {
    timeApprovalBySecondPerson: stored?.timeApprovalBySecondPerson ?? false,
    submittedTimeReminderDays: stored?.submittedTimeReminderDays ?? DEFAULT_SUBMITTED_TIME_REMINDER_DAYS,
  };
}

/** A change of settings as the API takes it: each setting optional, nothing else. */
export const settingsPatch = z.strictObject({
  timeApprovalBySecondPerson: z.boolean().optional().describe('Nobody approves time they submitted themselves (off by default).'),
  submittedTimeReminderDays: z
    .number()
    .int()
    .min(1)
    .max(60)
    .optional()
    .describe("Coordinators' daily digest lists time submitted more than this many days ago (default 3)."),
});
export type SettingsPatch = z.infer<typeof settingsPatch>;

export const settingsResponse = z.object({
  timeApprovalBySecondPerson: z.boolean(),
  submittedTimeReminderDays: z.number().int(),
});

/** The organisation's settings in force. Errors: not_found. */
export async function organisationSettings(db: Db, organisationId: string): Promise<Settings> {
  const [row] = await db.select({ settings: organisations.settings }).from(organisations).where(eq(organisations.id, organisationId));
  if (!row) throw notFound('The organisation');
  return resolveSettings(row.settings as StoredSettings);
}

/** The stored settings with a patch applied; a setting the patch leaves out keeps its value. */
export function applySettingsPatch(stored: StoredSettings, patch: SettingsPatch): StoredSettings {
  const next: StoredSettings = { ...stored };
  for (const [key, value] of Object.entries(patch) as [keyof SettingsPatch, unknown][]) {
    if (value !== undefined) (next as Record<string, unknown>)[key] = value;
  }
  return next;
}
