/**
 * What the API shows of rate cards, their versions and the rates in them: the response schemas
 * (which also document them in the OpenAPI document) and the mappers from database rows, side
 * by side so they cannot drift. A version's rates are shown as they were stored.
 */
import { z } from 'zod';
import type { rateCards, rateCardVersions } from '../../db/schema.js';
import { activities, contributorKinds, rateUnits } from '../../domain/enums.js';
import { shortDayPays, type Rate } from '../../domain/rate-card.js';
import { shown } from '../../lib/views.js';

export type RateCardRow = typeof rateCards.$inferSelect;
export type RateCardVersionRow = typeof rateCardVersions.$inferSelect;

export const rateResponse = z.object({
  activity: z.enum(activities),
  contributorKind: z.enum(contributorKinds),
  unit: z.enum(rateUnits),
  amount: z.number().int(),
  roundToMinutes: z.number().int().nullish(),
  minimumMinutes: z.number().int().nullish(),
  dayThresholdMinutes: z.number().int().nullish(),
  shortDayPay: z.enum(shortDayPays).nullish(),
  inKind: z.boolean().optional(),
});
export type RateResponse = z.infer<typeof rateResponse>;

export const rateCardResponse = z.object({ id: z.string(), name: z.string(), currency: z.string(), createdAt: z.iso.datetime() });
rateCardResponse.register(z.globalRegistry, { id: 'RateCard' });
export type RateCardResponse = z.infer<typeof rateCardResponse>;

export const rateCardVersionResponse = z.object({
  id: z.string(),
  version: z.number().int(),
  effectiveFrom: z.string(),
  rates: z.array(rateResponse),
  createdAt: z.iso.datetime(),
});
rateCardVersionResponse.register(z.globalRegistry, { id: 'RateCardVersion' });
export type RateCardVersionResponse = z.infer<typeof rateCardVersionResponse>;

export function toRateCardResponse(row: RateCardRow): RateCardResponse {
  return shown(row, ['id', 'name', 'currency', 'createdAt']);
}

export function toRateCardVersionResponse(row: RateCardVersionRow): RateCardVersionResponse {
  return shown(row, ['id', 'version', 'effectiveFrom', 'createdAt'], { rates: row.rates as Rate[] });
}
